package parse

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestCSV(t *testing.T) {
	cols := []string{"a", "b", "c"}
	long := strings.Repeat("y", 10<<20)
	tests := []struct {
		name    string
		in      string
		columns []string
		delim   rune
		want    map[string]any
		wantErr error
		errHas  string
	}{
		{name: "plain", in: "1,2,3", want: map[string]any{"a": "1", "b": "2", "c": "3"}},
		{name: "quotes", in: `"x, y","say ""hi""",`, want: map[string]any{"a": "x, y", "b": `say "hi"`, "c": ""}},
		{name: "line break in quotes", in: "\"l1\nl2\",2", want: map[string]any{"a": "l1\nl2", "b": "2"}},
		{name: "fewer values", in: "1", want: map[string]any{"a": "1"}},
		{name: "tab delimiter", in: "1\t2", delim: '\t', want: map[string]any{"a": "1", "b": "2"}},
		{name: "multi-byte delimiter", in: "1│2", delim: '│', want: map[string]any{"a": "1", "b": "2"}},
		{name: "empty column name drops the value", in: "1,2,3", columns: []string{"a", "", "c"}, want: map[string]any{"a": "1", "c": "3"}},
		{name: "trailing newline", in: "1,2\n", want: map[string]any{"a": "1", "b": "2"}},
		{name: "empty", in: "", want: map[string]any{}},
		{name: "NUL bytes", in: "\x00,b", want: map[string]any{"a": "\x00", "b": "b"}},
		{name: "invalid UTF-8", in: "\xff,b", want: map[string]any{"a": "\xff", "b": "b"}},
		{name: "10 MB value", in: long + ",2", want: map[string]any{"a": long, "b": "2"}},

		{name: "more values than columns", in: "1,2,3,4", wantErr: ErrSyntax, errHas: "4 values but 3 columns"},
		{name: "unbalanced quotes", in: `1,"2,3`, wantErr: ErrSyntax, errHas: "line 1, column 7"},
		{name: "bare quote", in: `1,2"x,3`, wantErr: ErrSyntax, errHas: `bare "`},
		{name: "two records", in: "1,2\n3,4", wantErr: ErrSyntax, errHas: "more than one record"},
		{name: "quote delimiter", in: "1", delim: '"', wantErr: ErrInvalidOption, errHas: "delimiter"},
		{name: "newline delimiter", in: "1", delim: '\n', wantErr: ErrInvalidOption},
		{name: "invalid rune delimiter", in: "1", delim: -1, wantErr: ErrInvalidOption},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			columns := tt.columns
			if columns == nil {
				columns = cols
			}
			got, err := CSV(tt.in, columns, tt.delim)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("err = %v, want %v containing %q", err, tt.wantErr, tt.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %s, want %s", short(got), short(tt.want))
			}
		})
	}
}

func TestKV(t *testing.T) {
	tests := []struct {
		name           string
		in             string
		pairSep, kvSep string
		want           map[string]any
	}{
		{name: "spaces", in: `a=1 b="x y" c=3`, want: map[string]any{"a": "1", "b": "x y", "c": "3"}},
		{name: "tabs and runs of blanks", in: "a=1\t\t b=2", want: map[string]any{"a": "1", "b": "2"}},
		{name: "single quotes and escapes", in: `a='it\'s' b="\\"`, want: map[string]any{"a": "it's", "b": `\`}},
		{name: "words without separator are skipped", in: "GET a=1 done", want: map[string]any{"a": "1"}},
		{name: "empty key skipped", in: "=1 b=2", want: map[string]any{"b": "2"}},
		{name: "empty value", in: "a= b=2", want: map[string]any{"a": "", "b": "2"}},
		{name: "value keeps later separators", in: "url=/x?a=b", want: map[string]any{"url": "/x?a=b"}},
		{name: "custom separators", in: "a: 1; b :2 ;c:3", pairSep: ";", kvSep: ":", want: map[string]any{"a": "1", "b": "2", "c": "3"}},
		{name: "ampersand query", in: "a=1&b=two&c", pairSep: "&", want: map[string]any{"a": "1", "b": "two"}},
		{name: "keys trimmed with a custom pair separator", in: " user name = bob , id=7", pairSep: ",", want: map[string]any{"user name": "bob", "id": "7"}},
		{name: "multi-byte separators", in: "a=>1 || b=>2", pairSep: "||", kvSep: "=>", want: map[string]any{"a": "1", "b": "2"}},
		{name: "unterminated quote runs to the end", in: `a="x b=2`, want: map[string]any{"a": "x b=2"}},
		{name: "last duplicate wins", in: "a=1 a=2", want: map[string]any{"a": "2"}},
		{name: "empty", in: "", want: map[string]any{}},
		{name: "NUL bytes", in: "a=\x00 b=\x001", want: map[string]any{"a": "\x00", "b": "\x001"}},
		{name: "invalid UTF-8", in: "\xff=\xfe", want: map[string]any{"\xff": "\xfe"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := KV(tt.in, tt.pairSep, tt.kvSep); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestKVLarge(t *testing.T) {
	s := strings.Repeat("k=v ", (10<<20)/4)
	if got := KV(s, "", ""); len(got) != 1 || got["k"] != "v" {
		t.Errorf("got %v", got)
	}
	s = strings.Repeat("word ", (10<<20)/5)
	if got := KV(s, "", ""); len(got) != 0 {
		t.Errorf("got %v", got)
	}
}

func FuzzCSV(f *testing.F) {
	for _, s := range []string{`1,"x, y","a""b"`, "\"a\nb\",c", `1,"2`, `a"b`, "1,2\n3", "", ",,,,", "\r\n"} {
		f.Add(s, ",")
	}
	f.Add("a;b", ";")
	f.Add("a\tb", "\t")
	cols := []string{"a", "b", "c", "d"}
	f.Fuzz(func(t *testing.T, s, delim string) {
		var d rune
		for _, r := range delim {
			d = r
			break
		}
		m, err := CSV(s, cols, d)
		if err != nil {
			return
		}
		if len(m) > len(cols) {
			t.Fatalf("%d fields for %d columns", len(m), len(cols))
		}
		for k, v := range m {
			if _, ok := v.(string); !ok {
				t.Fatalf("%s is a %T", k, v)
			}
		}
	})
}

func FuzzKV(f *testing.F) {
	for _, s := range []string{`a=1 b="x y" c=3`, `a='x\'y' b`, `=`, `a="`, `a=b=c`, "a=1\x00b=2"} {
		f.Add(s, "", "")
	}
	f.Add("a:1;b:2", ";", ":")
	f.Add("a=>1||b=>2", "||", "=>")
	f.Fuzz(func(t *testing.T, s, pairSep, kvSep string) {
		for k, v := range KV(s, pairSep, kvSep) {
			if k == "" || k != strings.TrimSpace(k) {
				t.Fatalf("key %q", k)
			}
			if _, ok := v.(string); !ok {
				t.Fatalf("%s is a %T", k, v)
			}
		}
	})
}
