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

// Depth returns an error wrapping ErrTooDeep when data nests objects and
// arrays deeper than max. It does not validate the JSON otherwise.
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
				return fmt.Errorf("%w: more than %d levels at byte %d", ErrTooDeep, max, i)
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return nil
}
