package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

type sample struct {
	Name     string        `yaml:"name"`
	Wait     time.Duration `yaml:"wait"`
	Consumer struct {
		Batch int      `yaml:"batch"`
		Subj  []string `yaml:"subjects"`
	} `yaml:"consumer"`
}

func (s *sample) Validate() error {
	var errs Errors
	if s.Name == "" {
		errs.Addf("name", "is empty (set a worker name)")
	}
	if s.Consumer.Batch <= 0 {
		errs.Addf("consumer.batch", "must be > 0, got %d", s.Consumer.Batch)
	}
	return errs.Err()
}

func write(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPrecedenceDefaultsFileEnvFlags(t *testing.T) {
	s := &sample{Name: "default", Wait: time.Second}
	s.Consumer.Batch = 1
	p := write(t, "name: file\nconsumer:\n  batch: 10\n")
	err := Load(Source{
		File: p, EnvPrefix: "JL_",
		Environ: []string{"JL_CONSUMER__BATCH=20", "JL_WAIT=5s", "OTHER=1"},
		Set:     []string{"consumer.subjects=[a, b]", "name=flag"},
	}, s)
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "flag" || s.Consumer.Batch != 20 || s.Wait != 5*time.Second || strings.Join(s.Consumer.Subj, ",") != "a,b" {
		t.Errorf("got %+v", s)
	}
}

func TestErrorsNameFileLineAndPath(t *testing.T) {
	tests := []struct {
		name, body string
		want       []string
	}{
		{"unknown key", "name: x\nconsumer:\n  batch: 1\n  bach: 2\n", []string{"c.yaml:4:", "bach"}},
		{"wrong type", "name: x\nconsumer:\n  batch: lots\n", []string{"c.yaml:3:", "lots"}},
		{"validation, all errors", "name: \"\"\nconsumer:\n  batch: -1\n", []string{"c.yaml:1: name: is empty", "c.yaml:3: consumer.batch: must be > 0, got -1"}},
		{"broken yaml", "name: [\n", []string{"c.yaml:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Load(Source{File: write(t, tt.body)}, &sample{})
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestBadOverrides(t *testing.T) {
	for _, src := range []Source{
		{EnvPrefix: "JL_", Environ: []string{"JL_CONSUMER__BATCH=many"}},
		{Set: []string{"consumer.batch=many"}},
		{Set: []string{"novalue"}},
	} {
		s := &sample{Name: "x"}
		s.Consumer.Batch = 1
		if err := Load(src, s); !errors.Is(err, ErrInvalid) {
			t.Errorf("Load(%+v) = %v, want ErrInvalid", src, err)
		}
	}
}

func TestMergePrefixesNestedPaths(t *testing.T) {
	var inner Errors
	inner.Addf("grok", "pattern is empty")
	var outer Errors
	outer.Merge("stages[2]", inner.Err())
	if got := outer.Error(); got != "stages[2].grok: pattern is empty" {
		t.Errorf("got %q", got)
	}
}

// Kubernetes gives every pod variables named after the services of its
// namespace (JETLOG_PORT=tcp://10.0.0.1:9464 for a Service named jetlog):
// they must not stop the process. Unknown variables are warned about and
// skipped; a known key with a bad value still fails.
func TestUnknownEnvironmentVariablesAreWarnedNotFatal(t *testing.T) {
	s := &sample{Name: "x"}
	s.Consumer.Batch = 1
	var warned []string
	err := Load(Source{EnvPrefix: "JL_", Environ: []string{
		"JL_PORT=tcp://10.0.0.1:9464", "JL_SERVICE_HOST=10.0.0.1", "JL_PORT_9464_TCP_PROTO=tcp",
		"JL_CONSUMER__BATCH=7", "JL_CONSUMER__NOPE=1",
	}, Warn: func(msg string) { warned = append(warned, msg) }}, s)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if s.Consumer.Batch != 7 {
		t.Errorf("known variable not applied: batch = %d", s.Consumer.Batch)
	}
	if len(warned) != 4 {
		t.Fatalf("warnings = %q, want one per unknown variable (4)", warned)
	}
	for _, w := range []string{"JL_PORT", "JL_SERVICE_HOST", "JL_PORT_9464_TCP_PROTO", "JL_CONSUMER__NOPE"} {
		if !strings.Contains(strings.Join(warned, "\n"), w) {
			t.Errorf("no warning names %s: %q", w, warned)
		}
	}
}

func TestKnownPath(t *testing.T) {
	type inner struct {
		A int `yaml:"a"`
	}
	type root struct {
		inner `yaml:",inline"`
		M     map[string]int `yaml:"m"`
		P     *inner         `yaml:"p"`
		L     []inner        `yaml:"l"`
		Skip  int            `yaml:"-"`
		Plain int
	}
	typ := reflect.TypeFor[root]()
	for path, want := range map[string]bool{
		"a": true, "m": true, "m.anything": true, "p.a": true, "p.b": false, "l": true,
		"skip": false, "plain": true, "nope": false, "a.b": false,
	} {
		if got := KnownPath(typ, path); got != want {
			t.Errorf("KnownPath(%q) = %v, want %v", path, got, want)
		}
	}
}

func TestLeavesAndHasPath(t *testing.T) {
	type tls struct {
		CA string `yaml:"ca_file"`
	}
	type conn struct {
		URL string `yaml:"url"`
		TLS tls    `yaml:"tls"`
	}
	type root struct {
		conn  `yaml:",inline"`
		Wait  time.Duration     `yaml:"wait"`
		Tags  []string          `yaml:"tags"`
		Extra map[string]string `yaml:"extra"`
	}
	got := Leaves(reflect.TypeFor[root]())
	want := []string{"url", "tls.ca_file", "wait", "tags", "extra"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("Leaves = %q, want %q", got, want)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte("url: x\ntls:\n  ca_file: \"\"\n"), &doc); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]bool{"url": true, "tls.ca_file": true, "tls": true, "wait": false, "url.x": false} {
		if HasPath(&doc, path) != want {
			t.Errorf("HasPath(%q) = %v", path, !want)
		}
	}
}
