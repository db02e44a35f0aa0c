package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
		{EnvPrefix: "JL_", Environ: []string{"JL_NOPE=1"}},
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
