package parse

import (
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Logfmt decodes s as logfmt: key=value pairs separated by spaces, values
// optionally double-quoted with JSON escapes. It reads s by hand, with the
// grammar of github.com/go-logfmt/logfmt's decoder, and keeps keys and
// values as parts of s: a value costs one allocation, or two when it holds
// escapes.
//
// A key without '=' becomes true; "key=" and key="" become the empty string;
// every other value stays a string (type coercion is a later stage's job).
// Duplicate keys keep the last value. When s holds several lines, their pairs
// are merged in order. Errors give the byte offset and wrap ErrSyntax.
func Logfmt(s string) (map[string]any, error) {
	// Every pair but a bare key has an '='; counting them sizes the map.
	out := make(map[string]any, strings.Count(s, "="))
	for lineStart := 0; lineStart < len(s); {
		line := s[lineStart:]
		next := len(s)
		if i := strings.IndexByte(line, '\n'); i >= 0 {
			line, next = line[:i], lineStart+i+1
		}
		line = strings.TrimSuffix(line, "\r")
		if err := logfmtLine(line, out); err != nil {
			return nil, fmt.Errorf("logfmt: %w at byte %d: %s (quote values that hold spaces, '=' or '\"')",
				ErrSyntax, lineStart+err.pos, err.msg)
		}
		lineStart = next
	}
	return out, nil
}

// logfmtError is a syntax error at a byte offset of a line.
type logfmtError struct {
	pos int
	msg string
}

// logfmtLine decodes the pairs of one line into out.
func logfmtLine(line string, out map[string]any) *logfmtError {
	for i := 0; ; {
		// Anything up to a space is garbage before a key.
		for i < len(line) && line[i] <= ' ' {
			i++
		}
		if i == len(line) {
			return nil
		}
		start, multibyte := i, false
		for i < len(line) && line[i] > ' ' && line[i] != '=' && line[i] != '"' {
			multibyte = multibyte || line[i] >= utf8.RuneSelf
			i++
		}
		key := line[start:i]
		switch {
		case i < len(line) && line[i] == '"':
			return &logfmtError{i, `unexpected '"'`}
		case key == "":
			return &logfmtError{i, "unexpected '='"}
		case multibyte && strings.ContainsRune(key, utf8.RuneError):
			return &logfmtError{i, "invalid key"}
		case i == len(line) || line[i] != '=':
			out[key] = true
			continue
		}
		i++ // '='
		if i == len(line) || line[i] <= ' ' {
			out[key] = ""
			continue
		}
		if line[i] == '"' {
			value, end, err := logfmtQuoted(line, i)
			if err != nil {
				return err
			}
			out[key] = value
			i = end
			continue
		}
		start = i
		for i < len(line) && line[i] > ' ' {
			if line[i] == '=' || line[i] == '"' {
				return &logfmtError{i, fmt.Sprintf("unexpected %q", line[i])}
			}
			i++
		}
		out[key] = line[start:i]
	}
}

// logfmtQuoted reads the quoted value that starts at line[q] and returns
// it unquoted with the offset after its closing quote.
func logfmtQuoted(line string, q int) (string, int, *logfmtError) {
	escaped := false
	for i := q + 1; i < len(line); i++ {
		switch line[i] {
		case '\\':
			escaped = true
			i++
		case '"':
			if !escaped {
				return line[q+1 : i], i + 1, nil
			}
			v, ok := unquoteJSON(line[q+1 : i])
			if !ok {
				return "", 0, &logfmtError{i + 1, "invalid quoted value"}
			}
			return v, i + 1, nil
		}
	}
	return "", 0, &logfmtError{len(line), "unterminated quoted value"}
}

// unquoteJSON decodes the escapes of a JSON string's contents (\" \\ \/ \'
// \b \f \n \r \t \uXXXX, surrogate pairs included), as go-logfmt does:
// a control character or an unknown escape is an error, and invalid UTF-8
// becomes U+FFFD.
func unquoteJSON(s string) (string, bool) {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\':
			if i+1 >= len(s) {
				return "", false
			}
			i++
			switch e := s[i]; e {
			case '"', '\\', '/', '\'':
				b.WriteByte(e)
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'u':
				r, ok := hex4(s[i+1:])
				if !ok {
					return "", false
				}
				i += 4
				if utf16.IsSurrogate(r) {
					if r2, ok := hex4(strings.TrimPrefix(s[i+1:], `\u`)); ok && strings.HasPrefix(s[i+1:], `\u`) {
						if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
							b.WriteRune(d)
							i += 7
							continue
						}
					}
					r = utf8.RuneError
				}
				b.WriteRune(r)
			default:
				return "", false
			}
			i++
		case c == '"' || c < ' ':
			return "", false
		case c < utf8.RuneSelf:
			b.WriteByte(c)
			i++
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			b.WriteRune(r)
			i += size
		}
	}
	return b.String(), true
}

// hex4 reads four hexadecimal digits at the start of s.
func hex4(s string) (rune, bool) {
	if len(s) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range []byte(s[:4]) {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
