package alerting

import (
	"testing"
)

// ALERT_HITS holds gathered arrays; a store of the previous release may
// still hold single hits, which must be read too.
func TestDecodeHitsReadsArraysAndSingleHits(t *testing.T) {
	for data, want := range map[string][]string{
		`[{"r":"a","id":"e1"},{"r":"b","id":"e2"}]`: {"a/e1", "b/e2"},
		` [{"r":"a","id":"e1"}]`:                    {"a/e1"},
		`{"r":"c","id":"e3"}`:                       {"c/e3"},
	} {
		hs, err := decodeHits([]byte(data))
		if err != nil {
			t.Fatalf("%s: %v", data, err)
		}
		if len(hs) != len(want) {
			t.Fatalf("%s: %d hits, want %d", data, len(hs), len(want))
		}
		for i, h := range hs {
			if got := h.Rule + "/" + h.ID; got != want[i] {
				t.Errorf("%s: hit %d = %s, want %s", data, i, got, want[i])
			}
		}
	}
	for _, bad := range []string{`[{"r":`, `nope`, ``} {
		if _, err := decodeHits([]byte(bad)); err == nil {
			t.Errorf("%q decoded without an error", bad)
		}
	}
}
