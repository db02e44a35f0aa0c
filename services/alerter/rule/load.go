package rule

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/jetlog/jetlog/libs/config"
)

// Source is one rule file's name and bytes: a file of the rules directory,
// or an entry of the rules KV bucket (named kv:<bucket>/<key>).
type Source struct {
	Name string
	Data []byte
}

// Set is the loaded rules, sorted by name.
type Set struct {
	Rules []*Rule
	// Refused holds the problems of the files that did not load, each
	// with its file, line and reason; the other rules run.
	Refused *config.Errors
}

// Files lists the rule files of a directory (*.yaml and *.yml, sorted).
func Files(dir string) ([]string, error) {
	var files []string
	for _, pat := range []string{"*.yaml", "*.yml"} {
		m, err := filepath.Glob(filepath.Join(dir, pat))
		if err != nil {
			return nil, err
		}
		files = append(files, m...)
	}
	sort.Strings(files)
	return files, nil
}

// ReadFiles reads files into sources; a file that cannot be read is
// reported in errs.
func ReadFiles(files []string, errs *config.Errors) []Source {
	out := make([]Source, 0, len(files))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			errs.List = append(errs.List, &config.FieldError{File: f, Msg: err.Error()})
			continue
		}
		out = append(out, Source{Name: f, Data: data})
	}
	return out
}

// Load compiles the sources. A source that does not compile, or whose rule
// name another source already has, is refused alone, and its problems are
// in Set.Refused; the rest load.
func Load(srcs []Source, o Options) *Set {
	set := &Set{Refused: &config.Errors{}}
	names := map[string]string{}
	for _, s := range srcs {
		r, err := Compile(s.Name, s.Data, o)
		if err != nil {
			set.Refused.Merge("", err)
			continue
		}
		if prev, ok := names[r.Name]; ok {
			set.Refused.List = append(set.Refused.List, &config.FieldError{File: s.Name, Line: 1, Path: "name",
				Msg: fmt.Sprintf("rule %q is already defined in %s; this file is refused", r.Name, prev)})
			continue
		}
		names[r.Name] = s.Name
		set.Rules = append(set.Rules, r)
	}
	sort.Slice(set.Rules, func(i, j int) bool { return set.Rules[i].Name < set.Rules[j].Name })
	return set
}

// RefusedFiles returns the names of the files with problems.
func (s *Set) RefusedFiles() []string {
	seen := map[string]bool{}
	var out []string
	for _, e := range s.Refused.List {
		if !seen[e.File] {
			seen[e.File] = true
			out = append(out, e.File)
		}
	}
	return out
}

// Rule returns the rule named name, or nil.
func (s *Set) Rule(name string) *Rule {
	i := sort.Search(len(s.Rules), func(i int) bool { return s.Rules[i].Name >= name })
	if i < len(s.Rules) && s.Rules[i].Name == name {
		return s.Rules[i]
	}
	return nil
}

// KVSourceName is the name errors give a rule read from a KV bucket.
func KVSourceName(bucket, key string) string { return "kv:" + bucket + "/" + key }

// IsRuleKey reports whether a KV key names a rule file (<name>.yaml or
// .yml).
func IsRuleKey(key string) bool {
	return strings.HasSuffix(key, ".yaml") || strings.HasSuffix(key, ".yml")
}
