package config

import (
	"errors"
	"testing"
)

// FuzzLoad feeds arbitrary bytes to the strict decoder and the validator:
// whatever the input, the result is a value or an ErrInvalid, never a panic.
func FuzzLoad(f *testing.F) {
	for _, s := range []string{"name: x\nconsumer:\n  batch: 3\n", "name: [", "consumer: {batch: -1}", "a: &a [*a]", "---\n---\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := &sample{}
		root, err := DecodeStrict("f.yaml", data, s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("decode error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		if err := Locate("f.yaml", root, s.Validate()); err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("validation error does not wrap ErrInvalid: %v", err)
		}
	})
}
