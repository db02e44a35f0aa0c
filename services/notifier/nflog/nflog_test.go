package nflog

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// The hand-written encoder must read back, through encoding/json (which
// reads the log at start), as exactly the entry that was written.
func TestAppendJSONReadsBackAsTheEntry(t *testing.T) {
	at := time.Date(2026, 11, 30, 12, 0, 0, 123456789, time.UTC)
	for name, e := range map[string]*Entry{
		"new":     {GroupKey: "{}:{alertname=\"x\"}", Receiver: "team", Integration: "webhook[0]"},
		"settled": {GroupKey: "g", Receiver: "r", Integration: "slack[1]", Firing: []string{"a@1", "b@2"}, Resolved: []string{}, SentAt: at, Seq: 7},
		"pending": {GroupKey: "g\u2028\"<&>\\", Receiver: "r\x01", Integration: "email[0]", Firing: []string{"a@1"}, SentAt: at.In(time.FixedZone("x", 3600)), Seq: 1,
			Pending: &Pending{ID: "ntf_1", Seq: 2, Firing: []string{"a@1", "c@3"}, Resolved: []string{"b@2"}, At: at.Add(time.Minute)}},
		"odd strings": {GroupKey: "\xff\xfe invalid", Receiver: "tab\there", Integration: "nl\nhere"},
	} {
		t.Run(name, func(t *testing.T) {
			var got Entry
			data := e.AppendJSON(nil)
			if err := json.Unmarshal(data, &got); err != nil {
				t.Fatalf("%s does not parse: %v", data, err)
			}
			var want Entry
			std, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(std, &want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(normalize(got), normalize(want)) {
				t.Fatalf("hand-written %s\nreads back as %+v\nencoding/json %s\nreads back as %+v", data, got, std, want)
			}
		})
	}
}

// normalize makes times comparable with DeepEqual (same instant, UTC).
func normalize(e Entry) Entry {
	e.SentAt = e.SentAt.UTC()
	if e.Pending != nil {
		p := *e.Pending
		p.At = p.At.UTC()
		e.Pending = &p
	}
	return e
}

func BenchmarkEntryEncode(b *testing.B) {
	at := time.Now()
	e := &Entry{GroupKey: "{}:{alertname=\"HighErrorRate\",service=\"checkout\"}", Receiver: "team", Integration: "webhook[0]",
		Firing: []string{"0123456789abcdef@mzx1"}, Resolved: []string{}, SentAt: at, Seq: 3,
		Pending: &Pending{ID: "ntf_0123456789abcdef0123456789abcdef", Seq: 4, Firing: []string{"0123456789abcdef@mzx1"}, At: at}}
	b.Run("hand", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf = e.AppendJSON(buf[:0])
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = json.Marshal(e)
		}
	})
}
