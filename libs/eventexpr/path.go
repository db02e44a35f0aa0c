package eventexpr

import (
	"fmt"
	"strings"

	"github.com/jetlog/jetlog/libs/event"
)

// Path names a value of an event (see the package comment).
type Path struct {
	raw  string
	root string   // body, source, …, resource, attributes
	key  string   // the rest after resource. / attributes.
	keys []string // key split on dots
}

var scalarRoots = map[string]bool{"body": true, "source": true, "dataset": true, "traceId": true, "spanId": true, "severity.text": true, "severity.number": true,
	"tags": true, "error.stage": true, "error.message": true}

// ParsePath parses a field path.
func ParsePath(s string) (Path, error) {
	if scalarRoots[s] {
		return Path{raw: s, root: s}, nil
	}
	for _, root := range []string{"attributes", "resource"} {
		if rest, ok := strings.CutPrefix(s, root+"."); ok && rest != "" && !strings.HasPrefix(rest, ".") && !strings.HasSuffix(rest, ".") {
			return Path{raw: s, root: root, key: rest, keys: strings.Split(rest, ".")}, nil
		}
	}
	return Path{}, fmt.Errorf("%q is not a field path: use body, source, dataset, traceId, spanId, severity.text, severity.number, tags, error.stage, error.message, attributes.<key> or resource.<key>", s)
}

// String returns the path as it was written.
func (p Path) String() string { return p.raw }

// Root returns the path's first part: body, source, dataset, traceId,
// spanId, severity.text, severity.number, tags, error.stage, error.message,
// attributes or resource.
func (p Path) Root() string { return p.root }

// Key returns what follows attributes. or resource. ("" for other roots).
func (p Path) Key() string { return p.key }

func (p Path) mapOf(ev *event.Event, create bool) map[string]any {
	switch p.root {
	case "attributes":
		if ev.Attributes == nil && create {
			ev.Attributes = map[string]any{}
		}
		return ev.Attributes
	case "resource":
		if ev.Resource == nil && create {
			ev.Resource = map[string]any{}
		}
		return ev.Resource
	}
	return nil
}

// Get returns the value at p and whether it exists.
func (p Path) Get(ev *event.Event) (any, bool) {
	switch p.root {
	case "body":
		return ev.Body, ev.Body != ""
	case "source":
		return ev.Source, ev.Source != ""
	case "dataset":
		return ev.Dataset, ev.Dataset != ""
	case "traceId":
		return ev.TraceID, ev.TraceID != ""
	case "spanId":
		return ev.SpanID, ev.SpanID != ""
	case "severity.text":
		return ev.Severity.Text, ev.Severity.Text != ""
	case "severity.number":
		return int64(ev.Severity.Number), ev.Severity.Number != 0
	case "tags":
		return ev.Tags, len(ev.Tags) > 0
	case "error.stage", "error.message":
		if ev.Error == nil {
			return "", false
		}
		if p.root == "error.stage" {
			return ev.Error.Stage, ev.Error.Stage != ""
		}
		return ev.Error.Message, ev.Error.Message != ""
	}
	m := p.mapOf(ev, false)
	if m == nil {
		return nil, false
	}
	if v, ok := m[p.key]; ok {
		return v, true
	}
	var cur any = m
	for _, k := range p.keys {
		cm, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = cm[k]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// GetString returns the value at p as a string; non-strings are formatted.
func (p Path) GetString(ev *event.Event) (string, bool) {
	v, ok := p.Get(ev)
	if !ok {
		return "", false
	}
	if s, ok := v.(string); ok {
		return s, true
	}
	return fmt.Sprint(v), true
}

// Set writes v at p. Scalar roots take strings (severity.number an
// integer); tags takes a list, or one tag to add.
func (p Path) Set(ev *event.Event, v any) error {
	switch p.root {
	case "tags":
		return setTags(ev, v)
	case "body", "source", "dataset", "traceId", "spanId", "severity.text", "error.stage", "error.message":
		s, ok := v.(string)
		if !ok {
			s = fmt.Sprint(v)
		}
		switch p.root {
		case "body":
			ev.Body = s
		case "source":
			ev.Source = s
		case "dataset":
			ev.Dataset = s
		case "traceId":
			ev.TraceID = s
		case "spanId":
			ev.SpanID = s
		case "severity.text":
			ev.Severity.Text = s
		case "error.stage", "error.message":
			setError(ev, p.root, s)
		}
		return nil
	case "severity.number":
		n, err := toInt(v)
		if err != nil || n < 0 || n > 24 {
			return fmt.Errorf("severity.number must be an integer 0..24, got %v", v)
		}
		ev.Severity.Number = int(n)
		return nil
	}
	m := p.mapOf(ev, true)
	if _, flat := m[p.key]; flat || len(p.keys) == 1 {
		m[p.key] = v
		return nil
	}
	cur := m
	for i, k := range p.keys[:len(p.keys)-1] {
		next, ok := cur[k].(map[string]any)
		if !ok {
			if i == 0 {
				m[p.key] = v // no nested map on the way: the flat key
				return nil
			}
			next = map[string]any{}
			cur[k] = next
		}
		cur = next
	}
	cur[p.keys[len(p.keys)-1]] = v
	return nil
}

// Remove deletes the value at p.
func (p Path) Remove(ev *event.Event) {
	switch p.root {
	case "attributes", "resource":
		m := p.mapOf(ev, false)
		if m == nil {
			return
		}
		if _, ok := m[p.key]; ok {
			delete(m, p.key)
			return
		}
		cur := m
		for _, k := range p.keys[:len(p.keys)-1] {
			next, ok := cur[k].(map[string]any)
			if !ok {
				return
			}
			cur = next
		}
		delete(cur, p.keys[len(p.keys)-1])
	case "tags":
		ev.Tags = nil
	default:
		_ = p.Set(ev, "")
		if p.root == "severity.number" {
			ev.Severity.Number = 0
		}
	}
}

// setTags replaces the tags with a list, or adds one tag.
func setTags(ev *event.Event, v any) error {
	switch x := v.(type) {
	case string:
		if x != "" {
			ev.AddTag(x)
		}
		return nil
	case []string:
		ev.Tags = nil
		for _, t := range x {
			ev.AddTag(t)
		}
		return nil
	case []any:
		tags := make([]string, 0, len(x))
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return fmt.Errorf("tags must be strings, got %v", e)
			}
			tags = append(tags, s)
		}
		return setTags(ev, tags)
	}
	return fmt.Errorf("tags takes a list of strings or one string, got %T", v)
}

// setError sets one field of the event's error, dropping an error left
// with neither field.
func setError(ev *event.Event, root, s string) {
	if ev.Error == nil {
		if s == "" {
			return
		}
		ev.Error = &event.Failure{}
	}
	if root == "error.stage" {
		ev.Error.Stage = s
	} else {
		ev.Error.Message = s
	}
	if *ev.Error == (event.Failure{}) {
		ev.Error = nil
	}
}

func toInt(v any) (int64, error) {
	switch x := v.(type) {
	case int:
		return int64(x), nil
	case int64:
		return x, nil
	case float64:
		if x != float64(int64(x)) {
			return 0, fmt.Errorf("%v is not an integer", x)
		}
		return int64(x), nil
	case string:
		var n int64
		_, err := fmt.Sscan(x, &n)
		return n, err
	}
	return 0, fmt.Errorf("%T is not a number", v)
}
