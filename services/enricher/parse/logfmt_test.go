package parse

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/go-logfmt/logfmt"
)

func TestLogfmt(t *testing.T) {
	long := strings.Repeat("v", 10<<20)
	tests := []struct {
		name   string
		in     string
		want   map[string]any
		errHas string
	}{
		{name: "pairs", in: `level=info msg="hello world" n=3`, want: map[string]any{"level": "info", "msg": "hello world", "n": "3"}},
		{name: "key without value is true", in: "debug a=1", want: map[string]any{"debug": true, "a": "1"}},
		{name: "empty values are empty strings", in: `a= b="" c`, want: map[string]any{"a": "", "b": "", "c": true}},
		{name: "last duplicate wins", in: "a=1 a=2 a", want: map[string]any{"a": true}},
		{name: "escapes", in: `m="a \"b\" \\ \u00e9"`, want: map[string]any{"m": `a "b" \ é`}},
		{name: "quoted value with '=' and spaces", in: `q="x=y z" next`, want: map[string]any{"q": "x=y z", "next": true}},
		{name: "lines are merged", in: "a=1 b=2\nb=3\r\nc", want: map[string]any{"a": "1", "b": "3", "c": true}},
		{name: "empty", in: "", want: map[string]any{}},
		{name: "blank", in: " \t ", want: map[string]any{}},
		{name: "NUL separates like a space", in: "a=1\x00b=2", want: map[string]any{"a": "1", "b": "2"}},
		{name: "invalid UTF-8 in a value is kept", in: "a=\xff", want: map[string]any{"a": "\xff"}},
		{name: "10 MB value", in: "a=" + long, want: map[string]any{"a": long}},

		{name: "unterminated quote", in: `a="x`, errHas: "at byte 4: unterminated quoted value"},
		{name: "equals in a value", in: "a=b=c", errHas: "at byte 3: unexpected '='"},
		{name: "missing key", in: "=1", errHas: "at byte 0"},
		{name: "offset on the second line", in: "a=1\nb=\"x", errHas: "at byte 8"},
		{name: "invalid UTF-8 in a key", in: "\xffa=1", errHas: "invalid key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Logfmt(tt.in)
			if wantSyntaxError(t, err, tt.errHas) {
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %s, want %s", short(got), short(tt.want))
			}
		})
	}
}

// logfmtReference is Logfmt as it was over go-logfmt's decoder, which
// FuzzLogfmt checks the hand-written one against.
func logfmtReference(s string) (map[string]any, error) {
	out := make(map[string]any)
	if s == "" {
		return out, nil
	}
	// The decoder's line buffer must hold the longest line; one buffer the
	// size of the input is the simplest bound that always does.
	dec := logfmt.NewDecoderSize(strings.NewReader(s), len(s)+1)
	lines := refLineCursor{s: s}
	for dec.ScanRecord() {
		line, lineStart := lines.next()
		pos := 0
		for dec.ScanKeyval() {
			key := dec.Key()
			if key == nil {
				continue
			}
			var hasValue bool
			pos, hasValue = refSkipPair(line, pos, len(key))
			if !hasValue {
				out[string(key)] = true
				continue
			}
			out[string(key)] = string(dec.Value())
		}
		if err := dec.Err(); err != nil {
			return nil, refLogfmtError(err, lineStart)
		}
	}
	if err := dec.Err(); err != nil {
		return nil, refLogfmtError(err, lines.start)
	}
	return out, nil
}

// refLineCursor walks s the way bufio.ScanLines splits it, so that the raw text
// of each record the decoder scans is at hand.
type refLineCursor struct {
	s     string
	start int // byte offset of the line most recently returned
	next0 int
}

func (c *refLineCursor) next() (string, int) {
	c.start = c.next0
	rest := c.s[c.start:]
	line := rest
	if i := strings.IndexByte(rest, '\n'); i >= 0 {
		line = rest[:i]
		c.next0 = c.start + i + 1
	} else {
		c.next0 = len(c.s)
	}
	return strings.TrimSuffix(line, "\r"), c.start
}

// refSkipPair advances over one key of length keyLen and its value in
// line, starting at pos, mirroring the decoder's grammar. It reports whether
// the key was followed by '=', which the decoder does not expose: the decoder
// returns a nil value alike for "k", "k=" and k="".
func refSkipPair(line string, pos, keyLen int) (int, bool) {
	for pos < len(line) && line[pos] <= ' ' {
		pos++
	}
	pos += keyLen
	if pos >= len(line) || line[pos] != '=' {
		return pos, false
	}
	pos++
	if pos < len(line) && line[pos] == '"' {
		esc := false
		for pos++; pos < len(line); pos++ {
			switch c := line[pos]; {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				return pos + 1, true
			}
		}
		return pos, true
	}
	for pos < len(line) && line[pos] > ' ' {
		pos++
	}
	return pos, true
}

func refLogfmtError(err error, lineStart int) error {
	var syn *logfmt.SyntaxError
	if errors.As(err, &syn) {
		return fmt.Errorf("logfmt: %w at byte %d: %s (quote values that hold spaces, '=' or '\"')",
			ErrSyntax, lineStart+syn.Pos-1, syn.Msg)
	}
	return fmt.Errorf("logfmt: %w: %v", ErrSyntax, err)
}

func FuzzLogfmt(f *testing.F) {
	for _, s := range []string{
		`a=1 b="x y" c`, `a= b="" c=3`, `m="\"\\"`, "a=1\nb=2", `a="x`, `a=b=c`, `=`, "\xffa=1", "a=\x00",
		`m="\ud83d\ude00 \ud83dx \u00e9\n\t\/\'"`, `m="bad \x"`, "m=\"a\tb\\\\\"", "m=\"\xff\\n\"", "k\xef\xbf\xbd=1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := Logfmt(s)
		want, wantErr := logfmtReference(s)
		if fmt.Sprint(err) != fmt.Sprint(wantErr) || !reflect.DeepEqual(m, want) {
			t.Fatalf("%q: got %v, %v; go-logfmt's decoder gives %v, %v", s, m, err, want, wantErr)
		}
		if err != nil {
			return
		}
		// Encoding the result again (true as a bare key) and parsing that
		// must give the same map: this checks that bare keys and empty
		// values were told apart.
		var buf bytes.Buffer
		enc := logfmt.NewEncoder(&buf)
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if strings.ContainsRune(k, 0x7f) || !utf8.ValidString(k) {
				return // the encoder would drop these runes from the key
			}
			switch v := m[k].(type) {
			case bool:
				if !v {
					t.Fatalf("key %q is false", k)
				}
				buf.WriteString(" " + k + " ")
			case string:
				if !utf8.ValidString(v) {
					return // the encoder would write U+FFFD instead
				}
				if err := enc.EncodeKeyval(k, v); err != nil {
					return // a key the encoder refuses
				}
			default:
				t.Fatalf("key %q has a %T", k, v)
			}
		}
		again, err := Logfmt(buf.String())
		if err != nil {
			t.Fatalf("re-encoded %q does not parse: %v", buf.String(), err)
		}
		if !reflect.DeepEqual(m, again) {
			t.Fatalf("%q gave %v; re-encoded as %q it gives %v", s, m, buf.String(), again)
		}
	})
}
