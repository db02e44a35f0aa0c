package pipeline

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"

	"github.com/jetlog/jetlog/libs/config"
	"github.com/jetlog/jetlog/libs/event"
	"github.com/jetlog/jetlog/services/enricher/parse"
)

// Options configure compilation.
type Options struct {
	// MaxDepth bounds JSON parsed by parse_json.
	MaxDepth int
}

// compiler holds what compiled stages share (open GeoIP databases).
type compiler struct {
	maxDepth int
	mu       sync.Mutex
	geo      map[string]*parse.GeoIP
}

func newCompiler(o Options) *compiler {
	if o.MaxDepth <= 0 {
		o.MaxDepth = 64
	}
	return &compiler{maxDepth: o.MaxDepth, geo: map[string]*parse.GeoIP{}}
}

func (c *compiler) geoDB(path string) (*parse.GeoIP, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if db, ok := c.geo[path]; ok {
		return db, nil
	}
	db, err := parse.OpenGeoIP(path)
	if err != nil {
		return nil, err
	}
	c.geo[path] = db
	return db, nil
}

// Compile parses and compiles one pipeline file's bytes. Errors are
// config.Errors whose entries carry the file, line and key path.
func Compile(file string, data []byte, o Options) (*Pipeline, error) {
	return newCompiler(o).compile(file, data)
}

func (c *compiler) compile(file string, data []byte) (*Pipeline, error) {
	var f File
	root, err := config.DecodeStrict(file, data, &f)
	if err != nil {
		return nil, err
	}
	p, errs := c.build(file, &f)
	return p, config.Locate(file, root, errs.Err())
}

func (c *compiler) build(file string, f *File) (*Pipeline, *config.Errors) {
	var errs config.Errors
	if f.Name == "" {
		f.Name = strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	}
	onError := orDefault(f.OnError, OnErrorKeep)
	if onError != OnErrorDLQ && onError != OnErrorKeep {
		errs.Addf("on_error", "%q: use dlq or keep", f.OnError)
	}
	p := &Pipeline{Name: f.Name, File: file, onError: onError, tests: f.Tests}
	for i, s := range f.Match.Sources {
		if s == "" || strings.Contains(s, "..") {
			errs.Addf(fmt.Sprintf("match.sources[%d]", i), "%q is not a source pattern such as web, web.* or k8s.>", s)
			continue
		}
		toks := strings.Split(s, ".")
		for j, t := range toks {
			if t == ">" && j != len(toks)-1 {
				errs.Addf(fmt.Sprintf("match.sources[%d]", i), "%q: > must be the last token", s)
			}
		}
		p.match.sources = append(p.match.sources, toks)
	}
	if f.Match.When != "" {
		prog, err := compileCond(f.Match.When)
		if err != nil {
			errs.Addf("match.when", "%v", err)
		}
		p.match.when = prog
	}
	if len(f.Stages) == 0 {
		errs.Addf("stages", "no stages")
	}
	for i := range f.Stages {
		st, err := c.stage(&f.Stages[i], i, onError)
		if err != nil {
			errs.Merge(fmt.Sprintf("stages[%d]", i), err)
			continue
		}
		p.stages = append(p.stages, st)
	}
	for i, t := range f.Tests {
		if t.Name == "" {
			errs.Addf(fmt.Sprintf("tests[%d].name", i), "is empty")
		}
		if t.Input == nil {
			errs.Addf(fmt.Sprintf("tests[%d].input", i), "is empty")
		}
		for k := range t.Expect {
			if k == "@timestamp" {
				continue
			}
			if _, err := parsePath(k); err != nil {
				errs.Addf(fmt.Sprintf("tests[%d].expect", i), "%v", err)
			}
		}
	}
	return p, &errs
}

// stage compiles one stage; exactly one stage key must be set.
func (c *compiler) stage(s *StageSpec, i int, onError string) (*stage, error) {
	var errs config.Errors
	v := reflect.ValueOf(s).Elem()
	t := v.Type()
	var kind string
	var spec any
	for j := range t.NumField() {
		fv := v.Field(j)
		if fv.Kind() != reflect.Pointer || fv.IsNil() {
			continue
		}
		tag := strings.Split(t.Field(j).Tag.Get("yaml"), ",")[0]
		if kind != "" {
			errs.Addf(tag, "a stage has one type, and this one already is %s", kind)
			return nil, errs.Err()
		}
		kind, spec = tag, fv.Interface()
	}
	if kind == "" {
		errs.Addf("", "no stage type: use one of %s", strings.Join(stageKinds(), ", "))
		return nil, errs.Err()
	}
	st := &stage{name: s.Name, onError: orDefault(s.OnError, onError), tags: failureTags(kind)}
	if st.name == "" {
		st.name = fmt.Sprintf("%s#%d", kind, i)
	}
	if st.onError != OnErrorDLQ && st.onError != OnErrorKeep {
		errs.Addf("on_error", "%q: use dlq or keep", s.OnError)
	}
	if s.When != "" {
		prog, err := compileCond(s.When)
		if err != nil {
			errs.Addf("when", "%v", err)
		}
		st.when = prog
	}
	run, err := c.build1(kind, spec)
	if err != nil {
		var fe *fieldError
		if errors.As(err, &fe) {
			errs.Addf(kind+"."+fe.key, "%v", fe.err)
		} else {
			errs.Addf(kind, "%v", err)
		}
	}
	st.run = run
	return st, errs.Err()
}

func (c *compiler) build1(kind string, spec any) (stageFunc, error) {
	switch s := spec.(type) {
	case *ParseSpec:
		if kind == "parse_logfmt" {
			return c.parseLogfmt(s)
		}
		return c.parseJSON(s)
	case *AccessLogSpec:
		return c.accessLog(s)
	case *GrokSpec:
		return c.grok(s)
	case *RegexSpec:
		return c.regex(s)
	case *SyslogSpec:
		return c.syslog(s)
	case *CSVSpec:
		return c.csv(s)
	case *KVSpec:
		return c.kv(s)
	case *TimestampSpec:
		return c.timestamp(s)
	case *SetSpec:
		return c.set(s)
	case *RemoveSpec:
		return c.remove(s)
	case *CoerceSpec:
		return c.coerce(s)
	case *SeveritySpec:
		return c.severity(s)
	case *LabelsSpec:
		return c.labels(s)
	case *GeoIPSpec:
		return c.geoip(s)
	case *UserAgentSpec:
		return c.userAgent(s)
	case *RedactSpec:
		return c.redact(s)
	case *DropSpec:
		return func(*event.Event) error { return errDropped }, nil
	case *SampleSpec:
		return c.sample(s)
	case *RouteSpec:
		return c.route(s)
	case *MoveSpec:
		return c.move(s, kind == "copy")
	}
	return nil, fmt.Errorf("internal: unknown stage %T", spec)
}

func stageKinds() []string {
	t := reflect.TypeFor[StageSpec]()
	var out []string
	for j := range t.NumField() {
		if t.Field(j).Type.Kind() == reflect.Pointer {
			out = append(out, strings.Split(t.Field(j).Tag.Get("yaml"), ",")[0])
		}
	}
	return out
}

// Set is the loaded pipelines, tried in file-name order: the first whose
// match clause takes an event runs; the default pipeline (no match clause)
// takes the rest; an event no pipeline takes passes through unchanged.
type Set struct {
	Pipelines []*Pipeline
	def       *Pipeline
}

// Select returns the pipeline for ev, or nil.
func (s *Set) Select(ev *event.Event) *Pipeline {
	for _, p := range s.Pipelines {
		if !p.match.isDefault() && p.match.matches(ev) {
			return p
		}
	}
	return s.def
}

// LoadDir compiles every *.yaml and *.yml file of dir. Any error in any file
// fails the whole load (the caller keeps the previous Set), with every
// problem of every file reported.
func LoadDir(dir string, o Options) (*Set, error) {
	var files []string
	for _, pat := range []string{"*.yaml", "*.yml"} {
		m, err := filepath.Glob(filepath.Join(dir, pat))
		if err != nil {
			return nil, err
		}
		files = append(files, m...)
	}
	sort.Strings(files)
	return LoadFiles(files, o)
}

// LoadFiles compiles the given pipeline files into a Set.
func LoadFiles(files []string, o Options) (*Set, error) {
	c := newCompiler(o)
	set := &Set{}
	var errs config.Errors
	names := map[string]string{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			errs.List = append(errs.List, &config.FieldError{File: f, Msg: err.Error()})
			continue
		}
		p, err := c.compile(f, data)
		if err != nil {
			errs.Merge("", err)
			continue
		}
		if prev, ok := names[p.Name]; ok {
			errs.List = append(errs.List, &config.FieldError{File: f, Path: "name", Msg: fmt.Sprintf("pipeline %q is already defined in %s", p.Name, prev)})
			continue
		}
		names[p.Name] = f
		if p.match.isDefault() {
			if set.def != nil {
				errs.List = append(errs.List, &config.FieldError{File: f, Path: "match", Msg: fmt.Sprintf("a second default pipeline (no match clause); %s is one already", set.def.File)})
				continue
			}
			set.def = p
		}
		set.Pipelines = append(set.Pipelines, p)
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return set, nil
}
