package jsonscan

import (
	"errors"
	"strings"
	"testing"
)

func TestDepth(t *testing.T) {
	tests := []struct {
		name string
		in   string
		max  int
		deep bool
	}{
		{"flat", `{"a":1}`, 1, false},
		{"at the limit", `{"a":[{"b":1}]}`, 3, false},
		{"over", `{"a":[{"b":1}]}`, 2, true},
		{"brackets in strings do not count", `{"a":"[[[[{{{{"}`, 1, false},
		{"escaped quote keeps the string open", `{"a":"\"[[["}`, 1, false},
		{"a million deep", strings.Repeat("[", 1e6), 64, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Depth([]byte(tt.in), tt.max)
			if got := errors.Is(err, ErrTooDeep); got != tt.deep {
				t.Errorf("Depth = %v, want too deep: %v", err, tt.deep)
			}
		})
	}
}
