package parse

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// CSV parses s as one CSV record (quotes per RFC 4180; a quoted value may
// hold the delimiter, doubled quotes and line breaks) and names its values
// after columns, in order. A delimiter of 0 means ','. A column named "" is
// skipped, which drops the value at its position.
//
// More values than columns is an error naming both counts; fewer values leave
// the remaining columns out. Values stay strings. An empty line gives an
// empty map. Errors wrap ErrSyntax, or ErrInvalidOption for a delimiter that
// cannot be used ('"', '\r', '\n', U+FFFD or an invalid rune).
func CSV(s string, columns []string, delimiter rune) (map[string]any, error) {
	if delimiter == 0 {
		delimiter = ','
	}
	if delimiter == '"' || delimiter == '\r' || delimiter == '\n' || !utf8.ValidRune(delimiter) || delimiter == utf8.RuneError {
		return nil, fmt.Errorf("csv: %w: delimiter %q cannot be used (pick e.g. ',', ';', '\\t' or '|')", ErrInvalidOption, delimiter)
	}
	r := csv.NewReader(strings.NewReader(s))
	r.Comma = delimiter
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	out := make(map[string]any, len(columns))
	rec, err := r.Read()
	if errors.Is(err, io.EOF) {
		return out, nil
	}
	if err != nil {
		return nil, csvError(err)
	}
	if len(rec) > len(columns) {
		return nil, fmt.Errorf("csv: %w: %d values but %d columns (add column names, or name the extra ones \"\" to drop them)",
			ErrSyntax, len(rec), len(columns))
	}
	for i, v := range rec {
		if columns[i] != "" {
			out[columns[i]] = v
		}
	}
	line, col := r.FieldPos(len(rec) - 1)
	if _, err := r.Read(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("csv: %w: more than one record: data continues after line %d, column %d (quote values that hold line breaks)",
			ErrSyntax, line, col)
	}
	return out, nil
}

func csvError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return fmt.Errorf("csv: %w at line %d, column %d: %v (double a quote inside a quoted value, and close every quote)",
			ErrSyntax, pe.Line, pe.Column, pe.Err)
	}
	return fmt.Errorf("csv: %w: %v", ErrSyntax, err)
}

// KV extracts key/value pairs such as `a=1 b="x y" c=3` from s. pairSep
// separates pairs ("" means any run of spaces and tabs) and kvSep separates a
// key from its value ("" means "="). Values may be in double or single quotes; a
// backslash escapes the quote or a backslash inside them, and an unclosed
// quote runs to the end of s. Keys and unquoted values are trimmed of
// spaces; empty keys and words without kvSep are skipped; duplicate keys keep
// the last value. Values stay strings. KV never fails: text it cannot read
// as pairs is skipped.
func KV(s, pairSep, kvSep string) map[string]any {
	if kvSep == "" {
		kvSep = "="
	}
	out := make(map[string]any, strings.Count(s, kvSep))
	for i := 0; i < len(s); {
		// Skip separators and blanks before a key.
		i = kvSkip(s, i, pairSep)
		if i >= len(s) {
			break
		}
		// The key runs to kvSep, or to the next pair separator (no value).
		kEnd := kvIndex(s[i:], kvSep, pairSep)
		if kEnd < 0 {
			break // the rest is one word without kvSep
		}
		if !strings.HasPrefix(s[i+kEnd:], kvSep) {
			i += kEnd // a word without kvSep
			continue
		}
		key := strings.TrimSpace(s[i : i+kEnd])
		i += kEnd + len(kvSep)
		if pairSep != "" {
			for i < len(s) && (s[i] == ' ' || s[i] == '\t') && !strings.HasPrefix(s[i:], pairSep) {
				i++
			}
		}
		var val string
		if i < len(s) && (s[i] == '"' || s[i] == '\'') {
			val, i = kvQuoted(s, i)
		} else {
			end := kvIndex(s[i:], "", pairSep)
			if end < 0 {
				end = len(s) - i
			}
			val = strings.TrimSpace(s[i : i+end])
			i += end
		}
		if key != "" {
			out[key] = val
		}
	}
	return out
}

// kvSkip skips pair separators and blanks at s[i:].
func kvSkip(s string, i int, pairSep string) int {
	for i < len(s) {
		switch {
		case s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n':
			i++
		case pairSep != "" && strings.HasPrefix(s[i:], pairSep):
			i += len(pairSep)
		default:
			return i
		}
	}
	return i
}

// kvIndex returns the index in s of the first kvSep (when not "") or pair
// separator, or -1. A pairSep of "" means a space or tab.
func kvIndex(s, kvSep, pairSep string) int {
	for j := 0; j < len(s); j++ {
		if kvSep != "" && strings.HasPrefix(s[j:], kvSep) {
			return j
		}
		if pairSep == "" {
			if s[j] == ' ' || s[j] == '\t' {
				return j
			}
		} else if strings.HasPrefix(s[j:], pairSep) {
			return j
		}
	}
	return -1
}

// kvQuoted reads the quoted value starting at s[i] and returns it unescaped
// with the index after its closing quote.
func kvQuoted(s string, i int) (string, int) {
	q := s[i]
	// Most quoted values hold no backslash: they are a part of s.
	rest := s[i+1:]
	end := strings.IndexByte(rest, q)
	if end < 0 {
		end = len(rest)
	}
	if strings.IndexByte(rest[:end], '\\') < 0 {
		return rest[:end], min(i+1+end+1, len(s))
	}
	var b strings.Builder
	for j := i + 1; j < len(s); j++ {
		switch c := s[j]; {
		case c == '\\' && j+1 < len(s) && (s[j+1] == q || s[j+1] == '\\'):
			b.WriteByte(s[j+1])
			j++
		case c == q:
			return b.String(), j + 1
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), len(s)
}
