package parse

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/elastic/go-grok/patterns"
)

// MaxMatchInput is the longest input, in bytes, that Grok.Parse and Regex
// try to match; longer inputs do not match. Go's regexp is linear in the
// input, but an expanded grok pattern such as %{COMBINEDAPACHELOG} is a
// large automaton: searching a line for a match that does not start at its
// first byte costs about half a microsecond per byte, so without this bound
// one 10 MB line would hold a worker for seconds. A stage that wants to count
// such lines separately can compare len(s) with it.
const MaxMatchInput = 64 << 10

// maxGrokExpansion bounds the regular expression a grok pattern expands to;
// custom patterns that refer to each other twice per level grow
// exponentially, and Go's regexp compiler would reject them anyway.
const maxGrokExpansion = 1 << 20

// grokGroupPrefix names the capture groups that grok references expand to;
// raw (?<name>…) groups in patterns may not use it.
const grokGroupPrefix = "_grok"

// Grok is a compiled grok pattern. It is immutable and safe for concurrent
// use.
type Grok struct {
	re *regexp.Regexp
	// atStart is re anchored at the start of the text. Most lines that a
	// pattern matches match from their first byte, and an anchored search
	// costs a fraction of an unanchored one; when it matches, its match
	// is the one re would find, since no match can start further left and
	// both prefer the same alternatives at one start position.
	atStart *regexp.Regexp
	// required are literal strings every match contains: a line without
	// one of them cannot match, which is cheaper to learn with
	// strings.Contains than with the regexp.
	required []string
	fields   []grokField // indexed by capture group number; zero value: not a field
}

type grokField struct {
	name string
	conv grokType
}

type grokType uint8

const (
	grokNone grokType = iota // not a field
	grokString
	grokInt
	grokFloat
	grokBool
)

var grokTypes = map[string]grokType{
	"string": grokString, "int": grokInt, "long": grokInt,
	"float": grokFloat, "double": grokFloat, "bool": grokBool, "boolean": grokBool,
}

// grokRef matches one %{…} reference: the pattern name, an optional field
// name (anything but ':' and '}') and an optional type.
var (
	grokRef     = regexp.MustCompile(`%\{([^}]*)\}`)
	grokRefBody = regexp.MustCompile(`^(\w+)(?::([^:}]+)(?::(\w+))?)?$`)
	grokName    = regexp.MustCompile(`^\w+$`)
)

// grokLibrary merges the pattern maps of github.com/elastic/go-grok, the
// Logstash pattern files ported to Go's regexp syntax.
var grokLibrary = sync.OnceValue(func() map[string]string {
	all := make(map[string]string)
	for _, m := range []map[string]string{
		patterns.Default, patterns.AWS, patterns.Bind9, patterns.Bro, patterns.Exim,
		patterns.Firewalls, patterns.HAProxy, patterns.Httpd, patterns.Java, patterns.Junos,
		patterns.Maven, patterns.MCollective, patterns.MongoDB, patterns.PostgreSQL,
		patterns.Rails, patterns.Redis, patterns.Ruby, patterns.Squid, patterns.Syslog,
	} {
		for k, v := range m {
			all[k] = v
		}
	}
	for k, v := range grokOverrides {
		all[k] = v
	}
	return all
})

// grokOverrides restores the Logstash ECS definitions of patterns that
// go-grok simplified to capture nothing, so that %{SYSLOGBASE} and
// %{SYSLOGLINE} yield the program name and pid as in Logstash.
var grokOverrides = map[string]string{
	"SYSLOGPROG":     `%{PROG:process.name}(?:\[%{POSINT:process.pid:int}\])?`,
	"SYSLOGFACILITY": `<%{NONNEGINT:log.syslog.facility.code:int}.%{NONNEGINT:log.syslog.priority:int}>`,
}

// GrokPatternNames returns the names of the built-in grok patterns, sorted,
// for documentation and config validation.
func GrokPatternNames() []string {
	lib := grokLibrary()
	names := make([]string, 0, len(lib))
	for k := range lib {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// CompileGrok compiles a grok pattern such as
// `%{IPORHOST:client} %{WORD:method} %{INT:status:int}`.
//
// References take the forms %{NAME}, %{NAME:field} and %{NAME:field:type},
// where type is int or long (int64), float or double (float64), bool or
// boolean, or string. Field names are kept exactly as written, dots included
// ("http.status" is one flat key). A reference without a field name matches
// but captures nothing, except for the fields named inside the referenced
// pattern, as in Logstash. Raw (?<name>…) groups in the pattern are fields
// too. custom adds patterns (name → definition) that may refer to each other
// and to the library, and override library patterns of the same name.
//
// Matching is unanchored, as in Logstash: the pattern may match anywhere in
// the line. Parse first checks that the line holds the literal text every
// match needs, then tries a match at the first byte, and only then searches
// the whole line; starting a pattern with '^' makes lines that do not match
// at their first byte fail fast.
//
// The error names the unknown pattern, the reference cycle or the bad type,
// and wraps ErrInvalidOption.
func CompileGrok(pattern string, custom map[string]string) (*Grok, error) {
	for name := range custom {
		if !grokName.MatchString(name) {
			return nil, fmt.Errorf("grok: %w: custom pattern name %q must be letters, digits and '_'", ErrInvalidOption, name)
		}
	}
	c := &grokCompiler{custom: custom, lib: grokLibrary()}
	expanded, err := c.expand(pattern, nil)
	if err != nil {
		return nil, err
	}
	tree, err := syntax.Parse(expanded, syntax.Perl)
	if err != nil {
		return nil, grokRegexpError(pattern, err)
	}
	// Unnamed groups in library patterns do not change what matches but
	// cost the matcher a copy per thread and step; dropping them makes
	// typical patterns two to three times faster.
	tree = dropUnnamedCaptures(tree)
	expr := tree.String()
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, grokRegexpError(pattern, err)
	}
	atStart, err := regexp.Compile(`^(?:` + expr + `)`)
	if err != nil {
		return nil, grokRegexpError(pattern, err)
	}
	g := &Grok{re: re, atStart: atStart, required: pruneLiterals(requiredLiterals(tree, nil)), fields: make([]grokField, re.NumSubexp()+1)}
	seen := make([]bool, len(c.fields))
	for i, name := range re.SubexpNames() {
		switch {
		case name == "":
		case strings.HasPrefix(name, grokGroupPrefix):
			n, err := strconv.Atoi(name[len(grokGroupPrefix):])
			if err != nil || n < 0 || n >= len(c.fields) || seen[n] {
				return nil, fmt.Errorf("grok: %w: group name %q is reserved (rename the (?<%s>…) group)", ErrInvalidOption, name, name)
			}
			seen[n] = true
			g.fields[i] = c.fields[n]
		default:
			g.fields[i] = grokField{name: name, conv: grokString}
		}
	}
	return g, nil
}

// grokRegexpError reports a pattern whose expansion Go's regexp rejects,
// without quoting the expansion, which can run to kilobytes.
func grokRegexpError(pattern string, err error) error {
	var se *syntax.Error
	if errors.As(err, &se) {
		return fmt.Errorf("grok: %w: pattern %q does not compile: %s near %q",
			ErrInvalidOption, truncate(pattern, 200), se.Code, truncate(se.Expr, 60))
	}
	return fmt.Errorf("grok: %w: pattern %q does not compile: %v", ErrInvalidOption, truncate(pattern, 200), err)
}

type grokCompiler struct {
	custom map[string]string
	lib    map[string]string
	fields []grokField
}

// expand replaces every %{…} reference in def, recursively; stack holds the
// pattern names being expanded, to report cycles.
func (c *grokCompiler) expand(def string, stack []string) (string, error) {
	var b strings.Builder
	last := 0
	for _, loc := range grokRef.FindAllStringSubmatchIndex(def, -1) {
		b.WriteString(def[last:loc[0]])
		last = loc[1]
		body := def[loc[2]:loc[3]]
		m := grokRefBody.FindStringSubmatch(body)
		if m == nil {
			return "", fmt.Errorf("grok: %w: bad reference %%{%s}%s: want %%{NAME}, %%{NAME:field} or %%{NAME:field:type}",
				ErrInvalidOption, body, where(stack))
		}
		name, field, typ := m[1], m[2], m[3]
		sub, ok := c.custom[name]
		if !ok {
			sub, ok = c.lib[name]
		}
		if !ok {
			return "", fmt.Errorf("grok: %w: unknown pattern %%{%s}%s (see GrokPatternNames, or define it in the stage's custom patterns)",
				ErrInvalidOption, name, where(stack))
		}
		if slices.Contains(stack, name) {
			return "", fmt.Errorf("grok: %w: pattern %s refers to itself: %s → %s",
				ErrInvalidOption, name, strings.Join(stack, " → "), name)
		}
		conv := grokString
		if typ != "" {
			if conv, ok = grokTypes[typ]; !ok {
				return "", fmt.Errorf("grok: %w: unknown type %q in %%{%s}%s: want int, long, float, double, bool, boolean or string",
					ErrInvalidOption, typ, body, where(stack))
			}
		}
		inner, err := c.expand(sub, append(stack, name))
		if err != nil {
			return "", err
		}
		if field == "" {
			b.WriteString("(?:")
		} else {
			fmt.Fprintf(&b, "(?P<%s%d>", grokGroupPrefix, len(c.fields))
			c.fields = append(c.fields, grokField{name: field, conv: conv})
		}
		b.WriteString(inner)
		b.WriteString(")")
		if b.Len() > maxGrokExpansion {
			return "", fmt.Errorf("grok: %w: pattern expands to more than %d bytes of regular expression%s (custom patterns that refer to each other repeatedly grow exponentially)",
				ErrInvalidOption, maxGrokExpansion, where(stack))
		}
	}
	b.WriteString(def[last:])
	return b.String(), nil
}

func where(stack []string) string {
	if len(stack) == 0 {
		return ""
	}
	return " in pattern " + stack[len(stack)-1]
}

func dropUnnamedCaptures(re *syntax.Regexp) *syntax.Regexp {
	for i, sub := range re.Sub {
		re.Sub[i] = dropUnnamedCaptures(sub)
	}
	if re.Op == syntax.OpCapture && re.Name == "" {
		return re.Sub[0]
	}
	return re
}

// requiredLiterals appends to lits the case-sensitive literals that every
// match of re contains, following concatenations, groups and repetitions of
// at least one; alternations and optional parts contribute nothing.
func requiredLiterals(re *syntax.Regexp, lits []string) []string {
	switch re.Op {
	case syntax.OpLiteral:
		lit := string(re.Rune)
		if re.Flags&syntax.FoldCase == 0 && !strings.ContainsRune(lit, utf8.RuneError) && !slices.Contains(lits, lit) {
			lits = append(lits, lit)
		}
	case syntax.OpConcat:
		for _, sub := range re.Sub {
			lits = requiredLiterals(sub, lits)
		}
	case syntax.OpCapture, syntax.OpPlus:
		lits = requiredLiterals(re.Sub[0], lits)
	case syntax.OpRepeat:
		if re.Min >= 1 {
			lits = requiredLiterals(re.Sub[0], lits)
		}
	}
	return lits
}

// pruneLiterals drops literals that another one contains: finding the
// longer one finds them too.
func pruneLiterals(lits []string) []string {
	var out []string
	for i, l := range lits {
		if !slices.ContainsFunc(lits, func(o string) bool { return o != l && strings.Contains(o, l) }) && !slices.Contains(lits[:i], l) {
			out = append(out, l)
		}
	}
	return out
}

// Parse matches s against the pattern and returns its fields: empty captures
// are left out, typed captures are converted (a value that does not convert,
// such as "1e999" for :int, stays a string), and when a field is captured
// more than once the last non-empty capture wins. It returns false when s
// does not match or is longer than MaxMatchInput.
func (g *Grok) Parse(s string) (map[string]any, bool) {
	if len(s) > MaxMatchInput {
		return nil, false
	}
	for _, lit := range g.required {
		if !strings.Contains(s, lit) {
			return nil, false
		}
	}
	loc := g.atStart.FindStringSubmatchIndex(s)
	if loc == nil {
		if loc = g.re.FindStringSubmatchIndex(s); loc == nil {
			return nil, false
		}
	}
	out := make(map[string]any)
	for i, f := range g.fields {
		if f.conv == grokNone || loc[2*i] < 0 || loc[2*i] == loc[2*i+1] {
			continue
		}
		out[f.name] = convertGrok(s[loc[2*i]:loc[2*i+1]], f.conv)
	}
	return out, true
}

// String returns the regular expression the pattern expanded to.
func (g *Grok) String() string { return g.re.String() }

func convertGrok(v string, conv grokType) any {
	switch conv {
	case grokInt:
		if i, err := strconv.ParseInt(v, 10, 64); err == nil {
			return i
		}
		// Logstash converts "3.7" to 3; keep that, within int64.
		if f, err := strconv.ParseFloat(v, 64); err == nil && !math.IsNaN(f) && f >= math.MinInt64 && f < math.MaxInt64 {
			return int64(f)
		}
	case grokFloat:
		if f, err := strconv.ParseFloat(v, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
			return f
		}
	case grokBool:
		if b, err := strconv.ParseBool(v); err == nil {
			return b
		}
	}
	return v
}
