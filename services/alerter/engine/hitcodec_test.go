package engine_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jetlog/jetlog/services/alerter/engine"
	"github.com/jetlog/jetlog/services/alerter/rule"
)

// randomHit makes hits with the strings that are hard to escape: quotes,
// backslashes, control characters, U+2028, non-ASCII, empty ones.
func randomHit(rng *rand.Rand) engine.Hit {
	pieces := []string{"", "a", `"`, `\`, "\n", "\x00", "\x1f", "é", "日本", "\u2028", "</script>", "web-1", " "}
	s := func() string {
		var b strings.Builder
		for range rng.IntN(5) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		return b.String()
	}
	h := engine.Hit{Rule: s(), Version: s(), Key: s(), ID: s(), Term: s(), HasTerm: rng.IntN(2) == 0, HasValue: rng.IntN(2) == 0,
		Time:  time.Unix(rng.Int64N(4e9), rng.Int64N(1e9)).UTC(),
		Event: rule.EventSummary{ID: s(), Body: s(), Source: s(), Dataset: s(), Severity: s(), Service: s(), Host: s()}}
	switch rng.IntN(4) {
	case 0:
		h.Value = rng.Float64() * 1e6
	case 1:
		h.Value = float64(rng.IntN(1000)) - 500
	case 2:
		h.Value = 1e-300
	}
	if rng.IntN(2) == 0 {
		h.Group = map[string]string{}
		for range 1 + rng.IntN(3) {
			h.Group[s()] = s()
		}
	}
	return h
}

// The hand-written codec and encoding/json read each other's bytes, and a
// hit survives the round trip whole.
func TestHitCodecAgreesWithEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for i := range 2000 {
		h := randomHit(rng)
		mine := h.AppendJSON(nil)
		var viaStd engine.Hit
		if err := json.Unmarshal(mine, &viaStd); err != nil {
			t.Fatalf("%d: encoding/json cannot read %s: %v", i, mine, err)
		}
		std, _ := json.Marshal(h)
		got, err := engine.DecodeHits(std)
		if err != nil || len(got) != 1 {
			t.Fatalf("%d: DecodeHits(%s) = %v, %v", i, std, got, err)
		}
		again, err := engine.DecodeHits(mine)
		if err != nil || len(again) != 1 {
			t.Fatalf("%d: DecodeHits(%s) = %v, %v", i, mine, again, err)
		}
		for name, x := range map[string]engine.Hit{"encoding/json of AppendJSON": viaStd, "DecodeHits of json.Marshal": got[0], "round trip": again[0]} {
			if !reflect.DeepEqual(x, h) {
				t.Fatalf("%d: %s differs:\n got %+v\nwant %+v", i, name, x, h)
			}
		}
	}
}

func TestDecodeHitsReadsArraysAndRefusesGarbage(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	hs := []engine.Hit{randomHit(rng), randomHit(rng), randomHit(rng)}
	b := []byte{'['}
	for i := range hs {
		if i > 0 {
			b = append(b, ',')
		}
		b = hs[i].AppendJSON(b)
	}
	b = append(b, ']')
	got, err := engine.DecodeHits(b)
	if err != nil || !reflect.DeepEqual(got, hs) {
		t.Fatalf("DecodeHits of an array = %v, %v", got, err)
	}
	// One unreadable hit of an array is left out; the others are kept.
	mixed := append(append([]byte(`[`), hs[0].AppendJSON(nil)...), `,{"r":5},`...)
	mixed = append(append(mixed, hs[1].AppendJSON(nil)...), ']')
	got, err = engine.DecodeHits(mixed)
	if err == nil || !strings.Contains(err.Error(), "hit 1 of 3") || !reflect.DeepEqual(got, hs[:2]) {
		t.Errorf("DecodeHits of an array with a bad hit = %d hits, %v", len(got), err)
	}
	for _, bad := range []string{``, `nope`, `[{"r":`, `"a string"`, `[1]`, `{"t":"yesterday"}`, `{"r":5}`, `{"g":{"a":1}}`, `{"ev":{"id":false}}`} {
		if _, err := engine.DecodeHits([]byte(bad)); err == nil {
			t.Errorf("%q decoded without an error", bad)
		}
	}
}

func FuzzDecodeHits(f *testing.F) {
	rng := rand.New(rand.NewPCG(11, 12))
	for range 4 {
		h := randomHit(rng)
		f.Add(h.AppendJSON(nil))
	}
	f.Add([]byte(`[{"r":"a","id":"e1","t":"2026-01-02T03:04:05Z"}]`))
	// Whatever DecodeHits accepts, AppendJSON writes as JSON that both
	// decoders read, and writing it again changes nothing (the first
	// writing may normalise: invalid UTF-8, a time's spelling).
	f.Fuzz(func(t *testing.T, data []byte) {
		hs, err := engine.DecodeHits(data)
		if err != nil {
			return
		}
		for _, h := range hs {
			once := h.AppendJSON(nil)
			var std engine.Hit
			if err := json.Unmarshal(once, &std); err != nil {
				t.Fatalf("encoding/json cannot read %s: %v", once, err)
			}
			h2, err := engine.DecodeHits(once)
			if err != nil || len(h2) != 1 {
				t.Fatalf("%s does not read back: %v", once, err)
			}
			if twice := h2[0].AppendJSON(nil); string(twice) != string(once) && fmt.Sprint(h2[0]) != fmt.Sprint(mustDecode(t, twice)) {
				t.Fatalf("writing again changed the hit:\n%s\n%s", once, twice)
			}
		}
	})
}

func mustDecode(t *testing.T, b []byte) engine.Hit {
	hs, err := engine.DecodeHits(b)
	if err != nil || len(hs) != 1 {
		t.Fatalf("%s: %v", b, err)
	}
	return hs[0]
}
