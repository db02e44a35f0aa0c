// Package jsonscan checks untrusted JSON before it is decoded: a linear scan
// that bounds nesting without recursion, so a 10 MB document of brackets
// costs one pass and no stack.
package jsonscan

import (
	"errors"
	"fmt"
)

// ErrTooDeep is wrapped by Depth's error.
var ErrTooDeep = errors.New("json nested too deep")

// DepthError says where data went past the depth limit.
type DepthError struct {
	Max    int // the limit
	Offset int // the byte where nesting passed it
}

func (e *DepthError) Error() string {
	return fmt.Sprintf("%v: more than %d levels of objects and arrays at byte %d", ErrTooDeep, e.Max, e.Offset)
}

// Unwrap makes errors.Is(err, ErrTooDeep) true.
func (e *DepthError) Unwrap() error { return ErrTooDeep }

// Depth returns a *DepthError (wrapping ErrTooDeep) when data nests objects
// and arrays deeper than max. It does not validate the JSON otherwise.
func Depth(data []byte, max int) error {
	depth, inStr, esc := 0, false, false
	for i, c := range data {
		switch {
		case esc:
			esc = false
		case inStr:
			switch c {
			case '\\':
				esc = true
			case '"':
				inStr = false
			}
		case c == '"':
			inStr = true
		case c == '{' || c == '[':
			depth++
			if depth > max {
				return &DepthError{Max: max, Offset: i}
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return nil
}
