package eventexpr

import "strings"

// MatchSource reports whether an event's source matches any of patterns:
// NATS-style patterns over the source's dot-separated tokens, each split
// on dots ("*" matches one token, ">" the rest, at least one).
func MatchSource(patterns [][]string, source string) bool {
	toks := strings.Split(source, ".")
	for _, pat := range patterns {
		if MatchTokens(pat, toks) {
			return true
		}
	}
	return false
}

// MatchTokens matches one pattern's tokens against a source's tokens.
func MatchTokens(pat, toks []string) bool {
	for i, p := range pat {
		if p == ">" {
			return len(toks) > i
		}
		if i >= len(toks) || (p != "*" && p != toks[i]) {
			return false
		}
	}
	return len(pat) == len(toks)
}
