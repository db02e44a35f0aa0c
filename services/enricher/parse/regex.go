package parse

import "regexp"

// Regex matches s against re and returns its named capture groups as string
// fields. Unnamed groups are ignored; a named group that did not take part in
// the match or captured the empty string is left out; when a name is used by
// several groups, the last non-empty capture wins. It returns false when s
// does not match or is longer than MaxMatchInput.
func Regex(re *regexp.Regexp, s string) (map[string]any, bool) {
	if re == nil || len(s) > MaxMatchInput {
		return nil, false
	}
	loc := re.FindStringSubmatchIndex(s)
	if loc == nil {
		return nil, false
	}
	out := make(map[string]any)
	for i, name := range re.SubexpNames() {
		if name == "" || loc[2*i] < 0 || loc[2*i] == loc[2*i+1] {
			continue
		}
		out[name] = s[loc[2*i]:loc[2*i+1]]
	}
	return out, true
}
