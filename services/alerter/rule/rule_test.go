package rule_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jetlog/jetlog/libs/event"
	"github.com/jetlog/jetlog/services/alerter/rule"
)

// A bad rule is refused with its file, line and reason.
func TestBadRulesNameFileLineAndReason(t *testing.T) {
	for file, wants := range map[string][]string{
		"bad_expr.yaml":     {"bad_expr.yaml:3: match.when:"},
		"bad_type.yaml":     {"bad_type.yaml:2: type: \"frequncy\": use one of any, frequency"},
		"bad_keys.yaml":     {"bad_keys.yaml:3: threshold:", "bad_keys.yaml:4: group_by[0]:", "bad_keys.yaml:5: field: a frequency rule does not take field"},
		"bad_template.yaml": {"bad_template.yaml:2: summary:", "can't evaluate field Nope"},
		"unknown_key.yaml":  {"unknown_key.yaml:2:", "treshold"},
	} {
		t.Run(file, func(t *testing.T) {
			path := filepath.Join("testdata", "bad", file)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			_, err = rule.Compile(path, data, rule.DefaultOptions())
			if err == nil {
				t.Fatal("compiled")
			}
			for _, w := range wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

// One bad file is refused alone; the rest load.
func TestLoadRefusesABadFileAndKeepsTheRest(t *testing.T) {
	set := rule.Load([]rule.Source{
		{Name: "good.yaml", Data: []byte("type: any\n")},
		{Name: "bad.yaml", Data: []byte("type: any\nwindow: 1m\n")},
		{Name: "dup.yaml", Data: []byte("name: good\ntype: any\n")},
	}, rule.DefaultOptions())
	if len(set.Rules) != 1 || set.Rules[0].Name != "good" {
		t.Fatalf("rules %v", set.Rules)
	}
	got := strings.Join(set.RefusedFiles(), ",")
	if got != "bad.yaml,dup.yaml" {
		t.Errorf("refused %s", got)
	}
	if !strings.Contains(set.Refused.Error(), "bad.yaml:2: window: a any rule has no window") {
		t.Errorf("refused: %v", set.Refused)
	}
}

// The index hands an event the rules that may match it, and only those.
func TestIndexCandidates(t *testing.T) {
	mk := func(name, match string) *rule.Rule {
		r, err := rule.Compile(name+".yaml", []byte("type: any\nmatch: "+match+"\n"), rule.DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	rules := []*rule.Rule{
		mk("by-field", `{fields: {resource.service.name: checkout}}`),
		mk("by-source", `{sources: [web]}`),
		mk("by-pattern", `{sources: ["k8s.*.prod", "k8s.>"]}`),
		mk("by-dataset", `{datasets: [shop]}`),
		mk("by-severity", `{severities: [error]}`),
		mk("always", `{when: 'body contains "x"'}`),
	}
	ix := rule.NewIndex(rules)
	names := func(ev *event.Event) string {
		var out []string
		for _, r := range ix.Candidates(ev, nil) {
			out = append(out, r.Name)
		}
		return strings.Join(out, ",")
	}
	for _, c := range []struct {
		ev   event.Event
		want string
	}{
		{event.Event{Source: "web", Resource: map[string]any{"service.name": "checkout"}}, "always,by-field,by-source"},
		{event.Event{Source: "k8s.a.prod"}, "always,by-pattern"},
		{event.Event{Source: "db", Dataset: "shop", Severity: event.Severity{Text: "ERROR"}}, "always,by-dataset,by-severity"},
		{event.Event{Source: "k8s"}, "always"},
	} {
		if got := names(&c.ev); got != c.want {
			t.Errorf("%+v: candidates %s, want %s", c.ev, got, c.want)
		}
	}
	// Every candidate list holds every rule the event matches.
	ev := event.Event{ID: "1", Timestamp: time.Now(), Source: "k8s.x.prod", Body: "x", Resource: map[string]any{"service.name": "checkout"}}
	cands := map[string]bool{}
	for _, r := range ix.Candidates(&ev, nil) {
		cands[r.Name] = true
	}
	for _, r := range rules {
		if ok, _ := r.Matches(&ev, nil); ok && !cands[r.Name] {
			t.Errorf("%s matches but is no candidate", r.Name)
		}
	}
}

// FuzzCompile feeds arbitrary bytes to the rule compiler: it must refuse
// or compile, never panic.
func FuzzCompile(f *testing.F) {
	seeds, _ := filepath.Glob("../../../rules/*.yaml")
	bad, _ := filepath.Glob("testdata/bad/*.yaml")
	for _, s := range append(seeds, bad...) {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = rule.Compile("fuzz.yaml", data, rule.DefaultOptions())
	})
}
