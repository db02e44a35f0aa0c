package eventexpr_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jetlog/jetlog/libs/event"
	"github.com/jetlog/jetlog/libs/eventexpr"
)

func sample() *event.Event {
	return &event.Event{
		ID: "e1", Timestamp: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Body: "GET / 500", Source: "web", Dataset: "shop",
		Severity:   event.Severity{Text: "ERROR", Number: 17},
		Resource:   map[string]any{"service.name": "checkout", "k8s": map[string]any{"pod": "p-1"}},
		Attributes: map[string]any{"http.status": float64(500), "user": map[string]any{"name": "ann"}},
		Tags:       []string{"a"},
	}
}

func TestGetFindsFlatKeysThenNestedMaps(t *testing.T) {
	ev := sample()
	for _, c := range []struct {
		path string
		want any
		ok   bool
	}{
		{"body", "GET / 500", true},
		{"source", "web", true},
		{"dataset", "shop", true},
		{"severity.text", "ERROR", true},
		{"severity.number", int64(17), true},
		{"tags", []string{"a"}, true},
		{"traceId", "", false},
		{"error.stage", "", false},
		{"attributes.http.status", float64(500), true},
		{"attributes.user.name", "ann", true},
		{"attributes.user.missing", nil, false},
		{"resource.service.name", "checkout", true},
		{"resource.k8s.pod", "p-1", true},
	} {
		p, err := eventexpr.ParsePath(c.path)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := p.Get(ev)
		if ok != c.ok || (c.ok && !reflect.DeepEqual(got, c.want)) {
			t.Errorf("%s: got %v %v, want %v %v", c.path, got, ok, c.want, c.ok)
		}
	}
}

func TestSetAndRemove(t *testing.T) {
	ev := sample()
	set := func(path string, v any) {
		t.Helper()
		p, err := eventexpr.ParsePath(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Set(ev, v); err != nil {
			t.Fatal(err)
		}
	}
	set("attributes.user.id", "42")    // into the nested map
	set("attributes.new.key", "x")     // no map on the way: a flat key
	set("severity.number", float64(9)) // numbers from JSON
	set("tags", "b")                   // one tag is added
	set("error.message", "bad")
	if ev.Attributes["user"].(map[string]any)["id"] != "42" || ev.Attributes["new.key"] != "x" {
		t.Errorf("attributes = %v", ev.Attributes)
	}
	if ev.Severity.Number != 9 || !reflect.DeepEqual(ev.Tags, []string{"a", "b"}) || ev.Error == nil || ev.Error.Message != "bad" {
		t.Errorf("event = %+v", ev)
	}
	p, _ := eventexpr.ParsePath("severity.number")
	if err := p.Set(ev, 99); err == nil {
		t.Error("severity.number 99 accepted")
	}
	for _, path := range []string{"attributes.user.name", "error.message", "tags"} {
		p, _ := eventexpr.ParsePath(path)
		p.Remove(ev)
		if _, ok := p.Get(ev); ok {
			t.Errorf("%s still there after Remove", path)
		}
	}
	if ev.Error != nil {
		t.Errorf("an error with neither field is kept: %+v", ev.Error)
	}
}

func TestParsePathRefusesWhatIsNotAPath(t *testing.T) {
	for _, bad := range []string{"", "message", "attributes", "attributes.", "attributes..x", "resource.x.", "severity"} {
		if _, err := eventexpr.ParsePath(bad); err == nil || !strings.Contains(err.Error(), "is not a field path") {
			t.Errorf("ParsePath(%q) = %v", bad, err)
		}
	}
}

func TestConditionsSeeDataOnly(t *testing.T) {
	ev := sample()
	env := eventexpr.EnvOf(ev)
	for src, want := range map[string]bool{
		`severity.number >= 17 && source == "web"`:         true,
		`attributes["http.status"] == 500`:                 true,
		`resource["service.name"] in ["checkout", "cart"]`: true,
		`body contains "404"`:                              false,
		`"a" in tags && timestamp.Year() == 2026`:          true,
	} {
		p, err := eventexpr.CompileCond(src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		got, err := eventexpr.RunCond(p, &env)
		if err != nil || got != want {
			t.Errorf("%s = %v, %v; want %v", src, got, err, want)
		}
	}
	for _, bad := range []string{`body + 1`, `nosuchfield == 1`, `source`, strings.Repeat("1 + ", 3000) + "1 > 0"} {
		if _, err := eventexpr.CompileCond(bad); err == nil {
			t.Errorf("%q compiled", bad)
		}
	}
	v, err := eventexpr.CompileValue(`upper(source) + "-" + dataset`)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := eventexpr.Run(v, &env); err != nil || out != "WEB-shop" {
		t.Errorf("value = %v, %v", out, err)
	}
}

// FuzzPath checks that any path ParsePath accepts can be read, written and
// removed on any event without a panic, and reads back what was written.
func FuzzPath(f *testing.F) {
	for _, s := range []string{"body", "attributes.http.status", "resource.service.name", "attributes.a.b.c", "tags", "severity.number"} {
		f.Add(s, "v")
	}
	f.Fuzz(func(t *testing.T, s, v string) {
		p, err := eventexpr.ParsePath(s)
		if err != nil {
			return
		}
		ev := sample()
		_, _ = p.Get(ev)
		if p.Root() == "severity.number" || p.Root() == "tags" {
			_ = p.Set(ev, v)
		} else if err := p.Set(ev, v); err != nil {
			t.Fatalf("Set(%q, %q): %v", s, v, err)
		} else if got, _ := p.GetString(ev); got != v && v != "" {
			t.Fatalf("%s: wrote %q, read %q", s, v, got)
		}
		p.Remove(ev)
	})
}
