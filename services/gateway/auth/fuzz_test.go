package auth

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzMatch checks the source pattern matcher against a regular
// expression of the same meaning: '*' is any run of characters, the rest
// is literal.
func FuzzMatch(f *testing.F) {
	for _, c := range [][2]string{
		{"team-a.*", "team-a.web"}, {"team-a.*", "team-a"}, {"*.audit", "x.y.audit"}, {"*", ""},
		{"a*b*c", "aXbYbZc"}, {"a*b*c", "abcb"}, {"**", "x"}, {"a.b", "a.b"}, {"a.b", "aXb"},
	} {
		f.Add(c[0], c[1])
	}
	f.Fuzz(func(t *testing.T, pattern, s string) {
		if len(pattern) > 64 || len(s) > 256 || !utf8.ValidString(pattern) || !utf8.ValidString(s) {
			// The reference regexp grows with the pattern and reads UTF-8
			// only; sources are valid UTF-8 by the time they are matched.
			return
		}
		parts := strings.Split(pattern, "*")
		for i := range parts {
			parts[i] = regexp.QuoteMeta(parts[i])
		}
		want := regexp.MustCompile(`^(?s:` + strings.Join(parts, ".*") + `)$`).MatchString(s)
		if got := match(pattern, s); got != want {
			t.Fatalf("match(%q, %q) = %v, want %v", pattern, s, got, want)
		}
	})
}
