package parse

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
)

// redactGroup is the capture group name that limits a redaction to part of
// its match, e.g. the token after "Bearer ".
const redactGroup = "redact"

// Redactor replaces secrets and personal data in text with
// "[REDACTED:<name>]". It is immutable and safe for concurrent use.
type Redactor struct {
	rules []redactRule
}

type redactRule struct {
	name   string
	re     *regexp.Regexp
	group  int                     // capture group to replace; 0 is the whole match
	maybe  func(string) bool       // cheap pre-check of the whole text: false means no match
	accept func(string) (int, int) // narrows a regexp match to the span to redact; empty rejects it
	find   func(string) [][2]int   // finds the spans itself, instead of re
	// window, when set, holds every byte a match can contain and every
	// ASCII word byte; re then runs only on maximal runs of such bytes
	// for which need reports true. Because the bytes around a run are
	// not word bytes, \b behaves in a run as in the whole text, and the
	// matches are the same, found for a fraction of the cost.
	window *byteSet
	need   func(string) bool
}

// byteSet is a set of bytes.
type byteSet [256]bool

// wordAnd returns the set of ASCII word bytes ([0-9A-Za-z_]) and extra.
func wordAnd(extra string) *byteSet {
	var s byteSet
	for c := 0; c < 256; c++ {
		s[c] = isWordByte(byte(c))
	}
	for i := 0; i < len(extra); i++ {
		s[extra[i]] = true
	}
	return &s
}

// builtinRedactions lists the built-in rules in the order they run: the
// specific (keys and tokens with a prefix) before the general (emails,
// numbers, addresses), so that a bearer JWT counts once, as bearer_token.
var builtinRedactions = []redactRule{
	{
		name:  "bearer_token",
		find:  findBearer,
		maybe: containsFold("bearer"),
	},
	{
		name: "aws_secret_key",
		// The 40-character secret after a key name such as
		// aws_secret_access_key, AWS_SECRET_KEY or SecretAccessKey, with
		// ':', '=' or '=>' and optional quotes in between.
		re:    regexp.MustCompile(`(?i)(?:aws_?secret_?(?:access_?)?key|secret_?access_?key)["']?[ \t]*(?:=>|[:=])[ \t]*["']?(?P<redact>[A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)`),
		maybe: containsFold("key"),
	},
	{
		name:   "aws_access_key",
		re:     regexp.MustCompile(`\b(?:AKIA|ASIA)[A-Z0-9]{16}\b`),
		maybe:  func(s string) bool { return strings.Contains(s, "AKIA") || strings.Contains(s, "ASIA") },
		window: wordAnd(""),
		need:   func(w string) bool { return len(w) >= 20 },
	},
	{
		name: "jwt",
		// Header and payload are base64url JSON objects, so both start
		// with "eyJ" ('{"'); the signature is empty for alg "none".
		re:     regexp.MustCompile(`\beyJ[A-Za-z0-9_-]*\.eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*`),
		maybe:  func(s string) bool { return strings.Contains(s, "eyJ") },
		window: wordAnd("-."),
		need:   func(w string) bool { return strings.Contains(w, "eyJ") },
	},
	{
		name:   "email",
		re:     regexp.MustCompile(`[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b`),
		maybe:  func(s string) bool { return strings.IndexByte(s, '@') >= 0 },
		window: wordAnd(".%+-@"),
		need:   func(w string) bool { return strings.IndexByte(w, '@') >= 0 },
	},
	{
		name:  "credit_card",
		find:  findCards,
		maybe: hasDigits(13),
	},
	{
		name: "ipv6",
		// A candidate starts a run of word bytes, ':', '.' and '%' (so
		// C++ names such as std::move are not read as "d::") and is
		// validated by netip.ParseAddr.
		re:     regexp.MustCompile(`^(?P<redact>[0-9A-Fa-f]*:[0-9A-Fa-f:]*:[0-9A-Fa-f]*(?:\.[0-9]{1,3}){0,3}(?:%[0-9A-Za-z]+)?)`),
		maybe:  func(s string) bool { return strings.Count(s, ":") >= 2 },
		accept: acceptIPv6,
		window: wordAnd(":.%"),
		need:   func(w string) bool { return strings.Count(w, ":") >= 2 },
	},
	{
		name:   "ipv4",
		re:     regexp.MustCompile(`\b(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\b`),
		maybe:  func(s string) bool { return strings.Count(s, ".") >= 3 },
		window: wordAnd("."),
		need:   func(w string) bool { return len(w) >= 7 && strings.Count(w, ".") >= 3 },
	},
}

// bearerToken matches at an occurrence of "bearer" found by findBearer.
var bearerToken = regexp.MustCompile(`^(?i:bearer)[ \t]+([A-Za-z0-9\-._~+/]+=*)`)

// findBearer returns the spans of the tokens after "Bearer " (any case, not
// preceded by a word byte), keeping the scheme readable.
func findBearer(s string) [][2]int {
	var spans [][2]int
	for i := 0; i < len(s); {
		j := indexFold(s[i:], "bearer")
		if j < 0 {
			break
		}
		j += i
		if j > 0 && isWordByte(s[j-1]) {
			i = j + 1
			continue
		}
		loc := bearerToken.FindStringSubmatchIndex(s[j:])
		if loc == nil {
			i = j + 1
			continue
		}
		spans = append(spans, [2]int{j + loc[2], j + loc[3]})
		i = j + loc[1]
	}
	return spans
}

// indexFold returns the index of the first ASCII case-insensitive occurrence
// of the lower-case word in s, or -1.
func indexFold(s, word string) int {
	for i := 0; i+len(word) <= len(s); i++ {
		if s[i]|0x20 == word[0] && strings.EqualFold(s[i:i+len(word)], word) {
			return i
		}
	}
	return -1
}

func init() {
	for i := range builtinRedactions {
		if re := builtinRedactions[i].re; re != nil {
			builtinRedactions[i].group = groupIndex(re)
		}
	}
}

func groupIndex(re *regexp.Regexp) int {
	if i := re.SubexpIndex(redactGroup); i > 0 {
		return i
	}
	return 0
}

// BuiltinRedactions returns the names NewRedactor accepts as builtins, in the
// order their rules run.
func BuiltinRedactions() []string {
	names := make([]string, len(builtinRedactions))
	for i, r := range builtinRedactions {
		names[i] = r.name
	}
	return names
}

// NewRedactor builds a Redactor from builtin rule names (see
// BuiltinRedactions: email, credit_card, bearer_token, aws_access_key,
// aws_secret_key, jwt, ipv4, ipv6) and custom rules (name → regular
// expression in Go syntax). A custom expression with a group named "redact",
// as in `password=(?P<redact>\S+)`, redacts only that group. Builtins run in
// the order of BuiltinRedactions, whatever the order given, then custom rules
// sorted by name.
//
// An unknown builtin, a custom name that is empty or taken by a builtin, and
// an expression that does not compile are errors naming the rule and
// wrapping ErrInvalidOption.
func NewRedactor(builtin []string, custom map[string]string) (*Redactor, error) {
	r := &Redactor{}
	want := make(map[string]bool, len(builtin))
	for _, name := range builtin {
		if !slices.ContainsFunc(builtinRedactions, func(b redactRule) bool { return b.name == name }) {
			return nil, fmt.Errorf("redact: %w: unknown builtin %q (want one of %s)",
				ErrInvalidOption, name, strings.Join(BuiltinRedactions(), ", "))
		}
		want[name] = true
	}
	for _, b := range builtinRedactions {
		if want[b.name] {
			r.rules = append(r.rules, b)
		}
	}
	names := make([]string, 0, len(custom))
	for name := range custom {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if name == "" || strings.ContainsAny(name, "[]:") {
			return nil, fmt.Errorf("redact: %w: custom rule name %q must be non-empty, without '[', ']' or ':'", ErrInvalidOption, name)
		}
		if slices.Contains(BuiltinRedactions(), name) {
			return nil, fmt.Errorf("redact: %w: custom rule %q has the name of a builtin (rename it, or list %q as a builtin)",
				ErrInvalidOption, name, name)
		}
		re, err := regexp.Compile(custom[name])
		if err != nil {
			return nil, fmt.Errorf("redact: %w: custom rule %q: %v", ErrInvalidOption, name, err)
		}
		r.rules = append(r.rules, redactRule{name: name, re: re, group: groupIndex(re)})
	}
	return r, nil
}

// maxRedactPasses bounds how often Redact runs its rules over a text.
const maxRedactPasses = 4

// Redact returns s with every match of every rule replaced by
// "[REDACTED:<name>]", and the number of replacements. Rules run one after
// the other on the output of the previous one; empty matches are ignored.
// When a pass redacted something, the rules run again on the result, since
// a redaction can expose a match that overlapped it (an IPv4 address glued to
// "::1" leaves "::1" standing alone); so the output holds no match of any
// rule, except matches that overlap a marker, which are never redacted
// again. Rules run at most four times.
func (r *Redactor) Redact(s string) (string, int) {
	total := 0
	for range maxRedactPasses {
		pass := 0
		for i := range r.rules {
			var n int
			s, n = r.rules[i].apply(s)
			pass += n
		}
		total += pass
		if pass == 0 {
			break
		}
	}
	return s, total
}

func (rule *redactRule) apply(s string) (string, int) {
	if rule.maybe != nil && !rule.maybe(s) {
		return s, 0
	}
	spans := skipMarkers(s, rule.spans(s))
	if len(spans) == 0 {
		return s, 0
	}
	marker := "[REDACTED:" + rule.name + "]"
	var b strings.Builder
	b.Grow(len(s))
	last := 0
	for _, sp := range spans {
		b.WriteString(s[last:sp[0]])
		b.WriteString(marker)
		last = sp[1]
	}
	b.WriteString(s[last:])
	return b.String(), len(spans)
}

func (rule *redactRule) spans(s string) [][2]int {
	switch {
	case rule.find != nil:
		return rule.find(s)
	case rule.window != nil:
		var spans [][2]int
		for i := 0; i < len(s); {
			if !rule.window[s[i]] {
				i++
				continue
			}
			j := i
			for j < len(s) && rule.window[s[j]] {
				j++
			}
			if w := s[i:j]; rule.need == nil || rule.need(w) {
				for _, sp := range rule.regexSpans(w) {
					spans = append(spans, [2]int{i + sp[0], i + sp[1]})
				}
			}
			i = j
		}
		return spans
	default:
		return rule.regexSpans(s)
	}
}

// markerPrefix starts every replacement.
const markerPrefix = "[REDACTED:"

// skipMarkers drops the spans that overlap a "[REDACTED:<name>]" marker
// already in s: a custom rule such as `password=(?P<redact>\S+)` matches its
// own output, which must not count as a new redaction.
func skipMarkers(s string, spans [][2]int) [][2]int {
	if len(spans) == 0 || !strings.Contains(s, markerPrefix) {
		return spans
	}
	var markers [][2]int
	for i := 0; ; {
		j := strings.Index(s[i:], markerPrefix)
		if j < 0 {
			break
		}
		start := i + j
		end := strings.IndexByte(s[start:], ']')
		if end < 0 {
			break
		}
		markers = append(markers, [2]int{start, start + end + 1})
		i = start + end + 1
	}
	out := spans[:0]
	m := 0
	for _, sp := range spans {
		for m < len(markers) && markers[m][1] <= sp[0] {
			m++ // markers and spans are both in order
		}
		if m < len(markers) && markers[m][0] < sp[1] {
			continue // overlaps markers[m]
		}
		out = append(out, sp)
	}
	return out
}

// regexSpans returns the spans to redact: each match of the rule's regexp
// (searched in the whole of s, so that \b and ^ see the real neighbours),
// narrowed to its "redact" group and by its accept function, if any.
func (rule *redactRule) regexSpans(s string) [][2]int {
	var spans [][2]int
	for _, loc := range rule.re.FindAllStringSubmatchIndex(s, -1) {
		start, end := loc[0], loc[1]
		if g := rule.group; g > 0 {
			start, end = loc[2*g], loc[2*g+1]
		}
		if start < 0 || end <= start {
			continue
		}
		if rule.accept != nil {
			a, z := rule.accept(s[start:end])
			start, end = start+a, start+z
			if end <= start {
				continue
			}
		}
		spans = append(spans, [2]int{start, end})
	}
	return spans
}

// findCards returns the spans of payment card numbers in s: 13 to 19 digits
// that pass the Luhn check, written without separators or in groups of 3 to
// 6 digits joined by single spaces or dashes (4111 1111 1111 1111,
// 3782-822463-10005). The grouping rule and the Luhn check keep most order,
// phone and ticket numbers, and lists of small numbers, unredacted.
func findCards(s string) [][2]int {
	var spans [][2]int
	var groups []digitGroup
	flush := func() {
		spans = appendCards(spans, s, groups)
		groups = groups[:0]
	}
	for i := 0; i < len(s); {
		if !isDigit(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		// A group joins the run when one space or dash separates it from
		// the previous group.
		if n := len(groups); n > 0 {
			prev := groups[n-1].end
			if !(i == prev+1 && (s[prev] == ' ' || s[prev] == '-')) {
				flush()
			}
		}
		groups = append(groups, digitGroup{i, j})
		i = j
	}
	flush()
	return spans
}

// digitGroup is a run of digits, s[start:end].
type digitGroup struct{ start, end int }

// appendCards finds card numbers in one run of digit groups and appends their
// spans; a span may not touch a letter or '_' on either side.
func appendCards(spans [][2]int, s string, groups []digitGroup) [][2]int {
	if len(groups) == 0 {
		return spans
	}
	glued := func(i int) bool { return i >= 0 && i < len(s) && (isWordByte(s[i]) && !isDigit(s[i])) }
	for i := 0; i < len(groups); {
		best := -1
		digits := 0
		for j := i; j < len(groups); j++ {
			n := groups[j].end - groups[j].start
			digits += n
			if digits > 19 {
				break
			}
			if j > i && (n < 3 || n > 6 || groups[i].end-groups[i].start < 3 || groups[i].end-groups[i].start > 6) {
				break // a multi-group span needs card-like groups
			}
			if digits >= 13 && !glued(groups[i].start-1) && !glued(groups[j].end) && luhn(s[groups[i].start:groups[j].end]) {
				best = j
			}
		}
		if best < 0 {
			i++
			continue
		}
		spans = append(spans, [2]int{groups[i].start, groups[best].end})
		i = best + 1
	}
	return spans
}

// luhn reports whether the digits in s (other bytes are skipped) pass the
// Luhn checksum.
func luhn(s string) bool {
	sum, double := 0, false
	for i := len(s) - 1; i >= 0; i-- {
		c := s[i]
		if !isDigit(c) {
			continue
		}
		d := int(c - '0')
		if double {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isWordByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
}

// acceptIPv6 keeps the longest prefix of a candidate that is an IPv6
// address with at least one hex digit, trying the whole candidate and then
// cuts before each '.' (an IPv4 tail or a full stop), each without trailing
// ':' and '.'. Cutting only there means the rest never starts a candidate of
// its own, so redacting the output again finds nothing new.
func acceptIPv6(s string) (int, int) {
	if len(s) > 128 {
		return 0, 0 // far longer than any address with a zone
	}
	for end := len(s); end > 0; end = strings.LastIndexByte(s[:end], '.') {
		t := strings.TrimRight(s[:end], ":.")
		if !strings.ContainsAny(t, "0123456789abcdefABCDEF") {
			return 0, 0
		}
		if a, err := netip.ParseAddr(t); err == nil && a.Is6() {
			return 0, len(t)
		}
	}
	return 0, 0
}

// containsFold returns a check for the lower-case word in any ASCII case.
func containsFold(word string) func(string) bool {
	return func(s string) bool { return indexFold(s, word) >= 0 }
}

func hasDigits(n int) func(string) bool {
	return func(s string) bool {
		c := 0
		for i := 0; i < len(s); i++ {
			if s[i] >= '0' && s[i] <= '9' {
				if c++; c >= n {
					return true
				}
			}
		}
		return false
	}
}
