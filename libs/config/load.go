// Package config loads jetlog's YAML configuration: defaults in a Go struct,
// then a file, then environment variables, then command-line overrides, each
// decoded strictly (an unknown key is an error) and validated once, with
// every problem reported as file:line: path: reason.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Source says where configuration comes from, in increasing precedence.
type Source struct {
	// File is a YAML file; "" means defaults only.
	File string
	// EnvPrefix selects environment variables such as JETLOG_NATS__URL,
	// which sets nats.url: the prefix is dropped, "__" separates levels and
	// the rest is lower-cased. "" disables the environment.
	EnvPrefix string
	// Environ is the environment to read; nil means os.Environ().
	Environ []string
	// Set holds "path=value" overrides from the command line, such as
	// "consumer.batch=500"; values are YAML, so "[a, b]" is a list.
	Set []string
	// Warn receives a message for each environment variable with the
	// prefix that names no key (Kubernetes sets JETLOG_PORT and the like
	// for a Service named jetlog); nil logs it with slog's default logger.
	// Such a variable is skipped, never fatal.
	Warn func(msg string)
}

// Load fills dst (which holds the defaults) from src and validates it when dst
// has a Validate() error method. Every error wraps ErrInvalid.
func Load(src Source, dst any) error {
	root, err := Decode(src, dst)
	if err != nil {
		return err
	}
	v, ok := dst.(interface{ Validate() error })
	if !ok {
		return nil
	}
	return Locate(src.File, root, v.Validate())
}

// Decode is Load without the validation: it fills dst from src and returns
// the file's node tree (nil without a file), so the caller can validate and
// give each error its line with Locate.
func Decode(src Source, dst any) (*yaml.Node, error) {
	var root *yaml.Node
	if src.File != "" {
		data, err := os.ReadFile(src.File)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		if root, err = DecodeStrict(src.File, data, dst); err != nil {
			return nil, err
		}
	}
	warn := src.Warn
	if warn == nil {
		warn = func(msg string) { slog.Warn(msg) }
	}
	typ := reflect.TypeOf(dst)
	if src.EnvPrefix != "" {
		env := src.Environ
		if env == nil {
			env = os.Environ()
		}
		sort.Strings(env)
		for _, kv := range env {
			k, v, _ := strings.Cut(kv, "=")
			if !strings.HasPrefix(k, src.EnvPrefix) || k == src.EnvPrefix {
				continue
			}
			path := strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(k, src.EnvPrefix), "__", "."))
			if !KnownPath(typ, path) {
				warn(fmt.Sprintf("environment variable %s names no configuration key (%s); ignored", k, path))
				continue
			}
			if err := override(path, v, dst); err != nil {
				return nil, fmt.Errorf("%w: environment %s: %v", ErrInvalid, k, err)
			}
		}
	}
	for _, s := range src.Set {
		path, v, ok := strings.Cut(s, "=")
		if !ok || path == "" {
			return nil, fmt.Errorf("%w: --set %q: want path=value", ErrInvalid, s)
		}
		if err := override(path, v, dst); err != nil {
			return nil, fmt.Errorf("%w: --set %s: %v", ErrInvalid, path, err)
		}
	}
	return root, nil
}

// KnownPath reports whether path ("indexer.consumer.batch") names a key of
// the YAML form of t: a struct field by its yaml tag (inline fields
// included), anything below a map or a yaml.Node, and nothing below a
// scalar or a list.
func KnownPath(t reflect.Type, path string) bool {
	parts := strings.Split(path, ".")
	for len(parts) > 0 {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t == reflect.TypeFor[yaml.Node]() || t.Kind() == reflect.Map || t.Kind() == reflect.Interface {
			return true
		}
		if t.Kind() != reflect.Struct {
			return false
		}
		f, ok := yamlField(t, parts[0])
		if !ok {
			return false
		}
		t, parts = f, parts[1:]
	}
	return true
}

// yamlField finds the field of struct t that YAML calls key.
func yamlField(t reflect.Type, key string) (reflect.Type, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if strings.Contains(","+opts+",", ",inline,") {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				if got, ok := yamlField(ft, key); ok {
					return got, true
				}
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		if name == key {
			return f.Type, true
		}
	}
	return nil, false
}

// DecodeStrict decodes one YAML document into dst, refusing unknown keys, and
// returns the parsed node tree so validation errors can be given lines.
func DecodeStrict(file string, data []byte, dst any) (*yaml.Node, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, yamlError(file, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(dst); err != nil && !errors.Is(err, io.EOF) {
		return nil, yamlError(file, err)
	}
	return &root, nil
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// yamlError turns yaml.v3's "line 3: field x not found in type y" messages
// into FieldErrors that name the file.
func yamlError(file string, err error) error {
	var msgs []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{err.Error()}
	}
	out := &Errors{}
	for _, m := range msgs {
		fe := &FieldError{File: file, Msg: strings.TrimPrefix(m, "yaml: ")}
		if g := yamlLine.FindStringSubmatch(m); g != nil {
			fe.Line, _ = strconv.Atoi(g[1])
			fe.Msg = g[2]
		}
		out.List = append(out.List, fe)
	}
	return out
}

// override decodes value at path onto dst, as if the file had said it.
func override(path, value string, dst any) error {
	var val yaml.Node
	if err := yaml.Unmarshal([]byte(value), &val); err != nil || len(val.Content) == 0 {
		val = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: value}
	} else {
		val = *val.Content[0]
	}
	node := &val
	parts := strings.Split(path, ".")
	for i := len(parts) - 1; i >= 0; i-- {
		if parts[i] == "" {
			return fmt.Errorf("empty key in path %q", path)
		}
		node = &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{{Kind: yaml.ScalarNode, Value: parts[i]}, node}}
	}
	data, err := yaml.Marshal(node)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(dst); err != nil {
		return errors.New(strings.TrimPrefix(yamlLine.ReplaceAllString(strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:\n  "), "$2"), "yaml: "))
	}
	return nil
}

// Locate gives each FieldError of err the file and line of its path in root.
// A nil root (no file) leaves lines at zero.
func Locate(file string, root *yaml.Node, err error) error {
	var errs *Errors
	if !errors.As(err, &errs) {
		if err != nil {
			return fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		return nil
	}
	for _, fe := range errs.List {
		if root != nil && fe.File == "" {
			fe.File = file
			fe.Line = LineOf(root, fe.Path)
		}
	}
	return errs
}

var pathToken = regexp.MustCompile(`[^.\[\]]+|\[\d+\]`)

// LineOf returns the line of the deepest node on path ("a.b[2].c") that
// exists in root, so a missing key points at its parent.
func LineOf(root *yaml.Node, path string) int {
	n := root
	if n != nil && n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	if n == nil {
		return 0
	}
	line := n.Line
	for _, tok := range pathToken.FindAllString(path, -1) {
		var next *yaml.Node
		if strings.HasPrefix(tok, "[") {
			i, _ := strconv.Atoi(strings.Trim(tok, "[]"))
			if n.Kind == yaml.SequenceNode && i < len(n.Content) {
				next = n.Content[i]
				line = next.Line
			}
		} else if n.Kind == yaml.MappingNode {
			for j := 0; j+1 < len(n.Content); j += 2 {
				if n.Content[j].Value == tok {
					next = n.Content[j+1]
					line = n.Content[j].Line
					break
				}
			}
		}
		if next == nil {
			return line
		}
		n = next
		if n.Kind != yaml.MappingNode && n.Kind != yaml.SequenceNode {
			return line
		}
		line = n.Line
	}
	return line
}

// Leaves returns the path of every leaf key of the YAML form of t, in field
// order: struct fields are walked (inline ones included); maps, lists,
// scalars and durations are leaves; yaml.Node fields (sections checked
// elsewhere) are skipped. Tests use it to check an example file lists every
// key.
func Leaves(t reflect.Type) []string {
	var out []string
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t == reflect.TypeFor[yaml.Node]() {
			return
		}
		if t.Kind() != reflect.Struct || t == reflect.TypeFor[time.Time]() {
			out = append(out, prefix)
			return
		}
		for i := range t.NumField() {
			f := t.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "-" || (!f.IsExported() && !f.Anonymous) {
				continue
			}
			if strings.Contains(","+opts+",", ",inline,") {
				walk(f.Type, prefix)
				continue
			}
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			p := name
			if prefix != "" {
				p = prefix + "." + name
			}
			walk(f.Type, p)
		}
	}
	walk(t, "")
	return out
}

// HasPath reports whether the YAML tree root sets path ("a.b.c").
func HasPath(root *yaml.Node, path string) bool {
	n := root
	if n != nil && n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	for _, key := range strings.Split(path, ".") {
		if n == nil || n.Kind != yaml.MappingNode {
			return false
		}
		var next *yaml.Node
		for j := 0; j+1 < len(n.Content); j += 2 {
			if n.Content[j].Value == key {
				next = n.Content[j+1]
			}
		}
		n = next
	}
	return n != nil
}
