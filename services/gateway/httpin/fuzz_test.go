package httpin

import (
	"testing"

	"github.com/jetlog/jetlog/libs/event"
	"github.com/jetlog/jetlog/services/gateway/ingest"
)

// FuzzJSONObjects feeds arbitrary bodies to the /v1/ingest splitter and
// record decoder: never a panic, and every record is a JSON object.
func FuzzJSONObjects(f *testing.F) {
	for _, s := range []string{`[{"a":1},{"b":"x"}]`, "{\"a\":1}\n{\"b\":2}\n", `{"a":`, `[1,2]`, `{"a":[{"b":{"c":null}}]}`, `[]`, ` `} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		objs, err := jsonObjects(body, 100)
		if err != nil {
			return
		}
		if len(objs) > 100 {
			t.Fatalf("%d records past the limit of 100", len(objs))
		}
		for _, o := range objs {
			if m, err := event.DecodeFields(o); err == nil && m == nil {
				t.Fatalf("decoded a nil record from %q", o)
			}
		}
	})
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
