package httpin

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/jetlog/jetlog/services/gateway/ingest"
)

// FuzzJSONValues feeds arbitrary bodies to the /v1/ingest splitter and
// record decoder: never a panic, never more values than the limit, every
// value either valid JSON or carrying why not, and lines in order.
func FuzzJSONValues(f *testing.F) {
	for _, s := range []string{`[{"a":1},{"b":"x"}]`, "{\"a\":1}\n{\"b\":2}\n", `{"a":`, `[1,2]`, `{"a":[{"b":{"c":null}}]}`, `[]`, ` `,
		"{\"a\":1}\n{oops}\n\n{\"b\":2}", "{\"a\":\n1}{\"b\":2}x\n"} {
		f.Add([]byte(s))
	}
	lim := ingest.DefaultLimits()
	f.Fuzz(func(t *testing.T, body []byte) {
		vals, err := jsonValues(body, limit(100))
		if err != nil {
			return
		}
		if len(vals) > 100 {
			t.Fatalf("%d records past the limit of 100", len(vals))
		}
		line := 0
		for _, v := range vals {
			if v.err == nil && !json.Valid(v.raw) {
				t.Fatalf("value %q is not valid JSON and has no error", v.raw)
			}
			if v.err != nil && len(v.raw) == 0 {
				t.Fatal("a bad value without its bytes")
			}
			if v.line < line {
				t.Fatalf("line %d after line %d", v.line, line)
			}
			line = v.line
			rec := jsonRecord("src", v, lim)
			if (rec.Reject == nil) == (rec.Fields == nil) {
				t.Fatalf("record of %q: fields %v, reject %v", v.raw, rec.Fields, rec.Reject)
			}
		}
		// The NDJSON fast path finds what the general reading finds, and
		// decodes the same records.
		trimmed := bytes.TrimSpace(body)
		if len(trimmed) == 0 || trimmed[0] == '[' {
			return
		}
		general, err := splitValues(body, trimmed, 100)
		if err != nil {
			t.Fatalf("the fast path took a body the general reading refuses: %v", err)
		}
		if len(general) != len(vals) {
			t.Fatalf("%d values, the general reading finds %d", len(vals), len(general))
		}
		for i := range vals {
			a, b := jsonRecord("src", vals[i], lim), jsonRecord("src", general[i], lim)
			if !bytes.Equal(vals[i].raw, general[i].raw) || vals[i].line != general[i].line || !reflect.DeepEqual(a.Fields, b.Fields) || (a.Reject == nil) != (b.Reject == nil) {
				t.Fatalf("value %d: fast %q line %d, general %q line %d", i, vals[i].raw, vals[i].line, general[i].raw, general[i].line)
			}
		}
	})
}

// TestJSONValues splits the body shapes shippers send.
func TestJSONValues(t *testing.T) {
	cases := []struct {
		name, body string
		lines      []int  // of each value
		bad        []bool // which values do not parse
	}{
		{"array", `[{"a":1}, {"b":2}]`, []int{0, 0}, []bool{false, false}},
		{"ndjson", "{\"a\":1}\n{\"b\":2}\n", []int{1, 2}, []bool{false, false}},
		{"ndjson with a bad line and a blank one", "{\"a\":1}\n\n{oops}\r\n{\"b\":2}", []int{1, 3, 4}, []bool{false, true, false}},
		{"json_stream", `{"a":1}{"b":2}`, []int{1, 1}, []bool{false, false}},
		{"one object over lines", "{\n  \"a\": 1\n}\n", []int{1}, []bool{false}},
		{"truncated last line", "{\"a\":1}\n{\"b\":", []int{1, 2}, []bool{false, true}},
		// A value left open is cut at its line; the next line is read anew.
		{"unclosed array", "{\"a\":1}\n[1,\n{\"b\":2}\n", []int{1, 2, 3}, []bool{false, true, false}},
		// After a bad value each line stands alone, so one value over
		// several lines is refused line by line (the string "a" is a
		// value of its own, refused later as no object).
		{"lines after a bad one", "{oops}\n{\n\"a\":1}\n", []int{1, 2, 3, 3}, []bool{true, true, false, true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			vals, err := jsonValues([]byte(c.body), limit(100))
			if err != nil || len(vals) != len(c.lines) {
				t.Fatalf("%+v, %v", vals, err)
			}
			for i, v := range vals {
				if v.line != c.lines[i] || (v.err != nil) != c.bad[i] {
					t.Errorf("value %d %q: line %d, err %v; want line %d, bad %v", i, v.raw, v.line, v.err, c.lines[i], c.bad[i])
				}
			}
			if c.name == "ndjson with a bad line and a blank one" && string(vals[1].raw) != "{oops}" {
				t.Errorf("bad line kept as %q", vals[1].raw)
			}
		})
	}
	for _, body := range []string{"", "  \n", `[{"a":1}`, `[{"a":1}] x`} {
		if _, err := jsonValues([]byte(body), limit(100)); err == nil {
			t.Errorf("%q: no error, want the body refused", body)
		}
	}
	if _, err := jsonValues([]byte(strings.Repeat("{}\n", 101)), limit(100)); err == nil {
		t.Error("101 values under a limit of 100: no error")
	}
	if _, err := jsonValues([]byte(strings.Repeat("{}\n", 100)+"{x\n"), limit(100)); err == nil {
		t.Error("101 values, the last bad, under a limit of 100: no error")
	}
}

// FuzzParseBulk feeds arbitrary bodies to the _bulk parser: never a panic,
// items and records agree.
func FuzzParseBulk(f *testing.F) {
	for _, s := range []string{
		"{\"index\":{\"_index\":\"a\",\"_id\":\"1\"}}\n{\"m\":1}\n",
		"{\"create\":{}}\n{\"m\":1}\n{\"delete\":{\"_id\":\"x\"}}\n",
		"{\"update\":{}}\n{\"doc\":{}}\n", "{\"index\":{}}\n", "not json\n",
	} {
		f.Add([]byte(s))
	}
	lim := ingest.DefaultLimits()
	f.Fuzz(func(t *testing.T, body []byte) {
		items, recs, err := parseBulk(body, "fallback", lim)
		if err != nil {
			return
		}
		n := 0
		for _, it := range items {
			if it.rec >= 0 {
				if it.rec >= len(recs) {
					t.Fatalf("item points at record %d of %d", it.rec, len(recs))
				}
				n++
			} else if it.err == nil {
				t.Fatal("an item with neither a record nor an error")
			}
		}
		if n != len(recs) {
			t.Fatalf("%d items with records, %d records", n, len(recs))
		}
	})
}

// limit is the default limits with at most n records.
func limit(n int) ingest.Limits {
	l := ingest.DefaultLimits()
	l.MaxBatchRecords = n
	return l
}
