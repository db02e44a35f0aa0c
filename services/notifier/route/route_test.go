package route

import (
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

const tree = `
receiver: default
group_by: [alertname]
group_wait: 30s
group_interval: 5m
repeat_interval: 4h
routes:
  - matchers: ['team="db"']
    receiver: db
    group_by: [alertname, cluster]
    routes:
      - matchers: ['severity="critical"']
        receiver: db-pager
        repeat_interval: 1h
  - matchers: ['severity=~"critical|warning"']
    receiver: audit
    continue: true
  - matchers: ['service="web"']
    receiver: web
    group_by: ['...']
`

func compileTree(t *testing.T, src string) *Route {
	t.Helper()
	var c Config
	if err := yaml.Unmarshal([]byte(src), &c); err != nil {
		t.Fatal(err)
	}
	r, err := Compile(c, Known{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestMatchWalksTheTreeAsAlertmanager(t *testing.T) {
	root := compileTree(t, tree)
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   []string
	}{
		{"no child matches: the root", map[string]string{"alertname": "X"}, []string{"default"}},
		{"first match wins", map[string]string{"team": "db", "severity": "warning"}, []string{"db"}},
		{"deepest match", map[string]string{"team": "db", "severity": "critical"}, []string{"db-pager"}},
		{"continue goes on to the next sibling", map[string]string{"severity": "critical", "service": "web"}, []string{"audit", "web"}},
		{"continue with no later match", map[string]string{"severity": "warning"}, []string{"audit"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, r := range root.Match(tc.labels) {
				got = append(got, r.Receiver)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("receivers %v, want %v", got, tc.want)
			}
		})
	}
}

func TestChildrenInherit(t *testing.T) {
	root := compileTree(t, tree)
	pager := root.Routes[0].Routes[0]
	if pager.GroupWait != 30*time.Second || pager.GroupInterval != 5*time.Minute || pager.RepeatInterval != time.Hour {
		t.Errorf("timings %v %v %v", pager.GroupWait, pager.GroupInterval, pager.RepeatInterval)
	}
	if !slices.Equal(pager.GroupBy, []string{"alertname", "cluster"}) {
		t.Errorf("group_by %v", pager.GroupBy)
	}
	web := root.Routes[2]
	gl := web.GroupLabels(map[string]string{"a": "1", "b": "2"})
	if len(gl) != 2 {
		t.Errorf("'...' groups by %v", gl)
	}
	if root.Routes[0].ID == root.Routes[1].ID || !strings.HasPrefix(pager.ID, root.Routes[0].ID+"/") {
		t.Errorf("ids %q %q %q", root.Routes[0].ID, root.Routes[1].ID, pager.ID)
	}
}

func TestCompileNamesEveryProblem(t *testing.T) {
	var c Config
	_ = yaml.Unmarshal([]byte(`
receiver: nobody
group_wait: 30s
group_interval: 0s
repeat_interval: 4h
routes:
  - matchers: ['team']
    group_by: ['...', alertname]
    mute_time_intervals: [weekends]
`), &c)
	_, err := Compile(c, Known{Receivers: func(string) bool { return false }, TimeIntervals: func(string) bool { return false }})
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"receiver: \"nobody\"", "group_interval: 0s", "routes[0].matchers[0]", "routes[0].group_by[0]", "routes[0].mute_time_intervals[0]"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}
