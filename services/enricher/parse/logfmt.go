package parse

import (
	"errors"
	"fmt"
	"strings"

	"github.com/go-logfmt/logfmt"
)

// Logfmt decodes s as logfmt (key=value pairs separated by spaces, values
// optionally double-quoted with Go escapes), using github.com/go-logfmt/logfmt.
//
// A key without '=' becomes true; "key=" and key="" become the empty string;
// every other value stays a string (type coercion is a later stage's job).
// Duplicate keys keep the last value. When s holds several lines, their pairs
// are merged in order. Errors give the byte offset and wrap ErrSyntax.
func Logfmt(s string) (map[string]any, error) {
	out := make(map[string]any)
	if s == "" {
		return out, nil
	}
	// The decoder's line buffer must hold the longest line; one buffer the
	// size of the input is the simplest bound that always does.
	dec := logfmt.NewDecoderSize(strings.NewReader(s), len(s)+1)
	lines := lineCursor{s: s}
	for dec.ScanRecord() {
		line, lineStart := lines.next()
		pos := 0
		for dec.ScanKeyval() {
			key := dec.Key()
			if key == nil {
				continue
			}
			var hasValue bool
			pos, hasValue = skipLogfmtPair(line, pos, len(key))
			if !hasValue {
				out[string(key)] = true
				continue
			}
			out[string(key)] = string(dec.Value())
		}
		if err := dec.Err(); err != nil {
			return nil, logfmtError(err, lineStart)
		}
	}
	if err := dec.Err(); err != nil {
		return nil, logfmtError(err, lines.start)
	}
	return out, nil
}

// lineCursor walks s the way bufio.ScanLines splits it, so that the raw text
// of each record the decoder scans is at hand.
type lineCursor struct {
	s     string
	start int // byte offset of the line most recently returned
	next0 int
}

func (c *lineCursor) next() (string, int) {
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

// skipLogfmtPair advances over one key of length keyLen and its value in
// line, starting at pos, mirroring the decoder's grammar. It reports whether
// the key was followed by '=', which the decoder does not expose: the decoder
// returns a nil value alike for "k", "k=" and k="".
func skipLogfmtPair(line string, pos, keyLen int) (int, bool) {
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

func logfmtError(err error, lineStart int) error {
	var syn *logfmt.SyntaxError
	if errors.As(err, &syn) {
		return fmt.Errorf("logfmt: %w at byte %d: %s (quote values that hold spaces, '=' or '\"')",
			ErrSyntax, lineStart+syn.Pos-1, syn.Msg)
	}
	return fmt.Errorf("logfmt: %w: %v", ErrSyntax, err)
}
