package config

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalid is wrapped by every validation error, so callers can tell bad
// configuration (exit code 2, fix the file) from a failure to run.
var ErrInvalid = errors.New("invalid configuration")

// FieldError is one problem with one configuration value.
type FieldError struct {
	File string // the file the value came from, or "" for defaults, env and flags
	Line int    // 1-based line in File, or 0
	Path string // the key path, e.g. "consumer.max_ack_pending" or "stages[2].grok"
	Msg  string // what is wrong and how to fix it
}

func (e *FieldError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors collects every problem of a configuration, so an operator fixes
// them all in one pass instead of one per restart. The zero value is ready.
type Errors struct {
	List []*FieldError
}

// Addf records a problem with the value at path.
func (e *Errors) Addf(path, format string, args ...any) {
	e.List = append(e.List, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// Check validates a nested value and records its problems under path.
func (e *Errors) Check(path string, v interface{ Validate() error }) {
	e.Merge(path, v.Validate())
}

// Merge records err under path: the entries of an *Errors are prefixed with
// path, any other error becomes one entry.
func (e *Errors) Merge(path string, err error) {
	if err == nil {
		return
	}
	var nested *Errors
	if errors.As(err, &nested) {
		for _, fe := range nested.List {
			c := *fe
			c.Path = join(path, fe.Path)
			e.List = append(e.List, &c)
		}
		return
	}
	e.List = append(e.List, &FieldError{Path: path, Msg: err.Error()})
}

func join(prefix, path string) string {
	switch {
	case prefix == "":
		return path
	case path == "":
		return prefix
	case strings.HasPrefix(path, "["):
		return prefix + path
	}
	return prefix + "." + path
}

// Err returns nil when nothing was recorded, else the collection itself.
func (e *Errors) Err() error {
	if e == nil || len(e.List) == 0 {
		return nil
	}
	return e
}

func (e *Errors) Error() string {
	lines := make([]string, len(e.List))
	for i, fe := range e.List {
		lines[i] = fe.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *Errors) Unwrap() error { return ErrInvalid }
