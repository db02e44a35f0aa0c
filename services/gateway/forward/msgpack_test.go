package forward

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/jetlog/jetlog/services/gateway/ingest"
)

func TestScanValue(t *testing.T) {
	cases := []struct {
		name  string
		in    []byte
		depth int
		n     int
		err   error
	}{
		{"int", mp(t, 1), 1, 1, nil},
		{"nil", []byte{0xc0, 0x01}, 1, 1, nil},
		{"flat map at depth 2", mp(t, map[string]any{"a": 1}), 2, 4, nil},
		{"flat map at depth 1", mp(t, map[string]any{"a": 1}), 1, 4, errTooDeep},
		{"empty containers", mp(t, []any{[]any{}, map[string]any{}}), 2, 3, nil},
		{"nested arrays", mp(t, []any{[]any{[]any{1}}}), 4, 4, nil},
		{"nested arrays too deep", mp(t, []any{[]any{[]any{1}}}), 3, 4, errTooDeep},
		{"siblings after deep", mp(t, []any{[]any{[]any{1}}, 2, 3}), 4, 6, nil},
		{"str8", mp(t, strings.Repeat("x", 40)), 1, 42, nil},
		{"bin32 truncated", []byte{0xc6, 0, 0, 1, 0, 'x'}, 1, 0, errShort},
		{"ext8", []byte{0xc7, 2, 5, 'a', 'b'}, 1, 5, nil},
		{"fixext16 truncated", []byte{0xd8, 5, 1, 2}, 1, 0, errShort},
		{"header truncated", []byte{0xcd, 1}, 1, 0, errShort},
		{"array claims more than the bytes", []byte{0xdd, 0xff, 0xff, 0xff, 0xff, 1}, 2, 0, errShort},
		{"map32 claims more than the bytes", []byte{0xdf, 0xff, 0xff, 0xff, 0xff}, 2, 0, errShort},
		{"reserved byte", []byte{0x92, 0x01, 0xc1}, 2, 0, errInvalid},
		{"empty", nil, 1, 0, errShort},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n, err := scanValue(tc.in, tc.depth)
			if n != tc.n || !errors.Is(err, tc.err) {
				t.Fatalf("scanValue = %d, %v; want %d, %v", n, err, tc.n, tc.err)
			}
		})
	}
}

// The scanner's depth is the publisher's: a record the scanner passes at
// max_depth is not refused by Limits.Check as too deep, and vice versa.
func TestScanDepthMatchesLimits(t *testing.T) {
	lim := ingest.DefaultLimits()
	for d := lim.MaxDepth - 3; d <= lim.MaxDepth+3; d++ {
		for _, leaf := range []any{"x", []any{}, []any{1}} {
			v := map[string]any{"leaf": leaf}
			for range d - 2 {
				v = map[string]any{"n": v}
			}
			raw := mp(t, v)
			_, scanErr := scanValue(raw, lim.MaxDepth)
			fields, _, err := decodeValue(raw)
			if err != nil {
				t.Fatal(err)
			}
			checkErr := lim.Check(&ingest.Record{Raw: raw, Fields: fields.(map[string]any)})
			var rej *ingest.RejectError
			tooDeep := errors.As(checkErr, &rej) && rej.Code == ingest.ReasonTooDeep
			if (scanErr == errTooDeep) != tooDeep {
				t.Errorf("depth %d leaf %v: scanner %v, Limits.Check %v", d, leaf, scanErr, checkErr)
			}
		}
	}
}

// 10 MB of 0x91 (an array holding an array holding …) neither recurses nor
// allocates in proportion to the input.
func TestScanDeepFlood(t *testing.T) {
	in := bytes.Repeat([]byte{0x91}, 10<<20)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	n, err := scanValue(in, 32)
	runtime.ReadMemStats(&after)
	if n != 0 || err != errShort {
		t.Fatalf("scanValue = %d, %v; want 0, errShort (it never ends)", n, err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<10 {
		t.Fatalf("%d bytes allocated scanning a 10 MB input", alloc)
	}
	// Ended, it is a value too deep whose length is still known.
	in = append(in, 0x01)
	if n, err = scanValue(in, 32); n != len(in) || err != errTooDeep {
		t.Fatalf("scanValue = %d, %v; want %d, errTooDeep", n, err, len(in))
	}
}

// countingReader counts what was read from it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestFramer(t *testing.T) {
	msgs := [][]byte{
		mp(t, []any{"a", 1, map[string]any{"k": "v"}}),
		{0xc0},
		mp(t, []any{"b", []byte(strings.Repeat("z", 100_000)), map[string]any{"chunk": "x"}}),
		mp(t, []any{"c", []any{[]any{1, map[string]any{}}}}),
	}
	stream := bytes.Join(msgs, nil)
	for name, r := range map[string]io.Reader{
		"whole":       bytes.NewReader(stream),
		"byte a time": iotest.OneByteReader(bytes.NewReader(stream)),
		"half":        iotest.HalfReader(bytes.NewReader(stream)),
	} {
		t.Run(name, func(t *testing.T) {
			f := newFramer(r, 1<<20, 32, nil)
			for i, want := range msgs {
				got, err := f.next()
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("message %d: %d bytes, %v", i, len(got), err)
				}
			}
			if _, err := f.next(); err != io.EOF {
				t.Fatalf("after the last message: %v, want EOF", err)
			}
		})
	}
	t.Run("truncated", func(t *testing.T) {
		f := newFramer(bytes.NewReader(stream[:len(stream)-1]), 1<<20, 32, nil)
		var err error
		for err == nil {
			_, err = f.next()
		}
		if err != errIncomplete {
			t.Fatalf("got %v, want errIncomplete", err)
		}
	})
	t.Run("refused before it is read", func(t *testing.T) {
		// A header claiming 100 MB is refused after its first bytes.
		big := append([]byte{0x92, 0xa1, 'x', 0xc6, 0x06, 0x40, 0, 0}, make([]byte, 1<<20)...)
		cr := &countingReader{r: bytes.NewReader(big)}
		f := newFramer(cr, 16<<20, 32, nil)
		_, err := f.next()
		var tl *tooLargeError
		if !errors.As(err, &tl) || cr.n > initialBuffer {
			t.Fatalf("got %v after reading %d bytes, want tooLargeError after at most %d", err, cr.n, initialBuffer)
		}
	})
	t.Run("over the limit", func(t *testing.T) {
		big := mp(t, []any{"x", strings.Repeat("y", 2000)})
		f := newFramer(bytes.NewReader(big), 1024, 32, nil)
		var tl *tooLargeError
		if _, err := f.next(); !errors.As(err, &tl) {
			t.Fatalf("got %v, want tooLargeError", err)
		}
	})
	t.Run("buffer bounded", func(t *testing.T) {
		// Many pipelined messages of just under the limit: the buffer never
		// holds more than limit plus the read slack, and shrinks back.
		const limit = 2 << 20
		one := mp(t, []any{"x", []byte(strings.Repeat("y", limit-32))})
		f := newFramer(bytes.NewReader(bytes.Repeat(one, 3)), limit, 32, nil)
		for range 3 {
			if _, err := f.next(); err != nil {
				t.Fatal(err)
			}
			if len(f.buf) > limit+readSlack {
				t.Fatalf("buffer of %d bytes, limit %d", len(f.buf), limit+readSlack)
			}
		}
		_, _ = f.next()
		if len(f.buf) > initialBuffer {
			t.Fatalf("buffer of %d bytes after the large messages", len(f.buf))
		}
	})
}

func TestDecodeValue(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 5, time.UTC)
	in := mp(t, map[any]any{
		"s": "str", "b": []byte("bin"), int64(-3): "neg key", uint64(math.MaxUint64): "big key", 1.5: "float key",
		false: "bool key", "i": int64(-7), "u": uint64(math.MaxUint64), "f": float32(0.5), "n": nil,
		"a": []any{1, "x"}, "m": map[string]any{"x": true}, "t": et(t0), "ts": t0,
	})
	v, n, err := decodeValue(in)
	if err != nil || n != len(in) {
		t.Fatalf("decodeValue: %d of %d bytes, %v", n, len(in), err)
	}
	want := map[string]any{
		"s": "str", "b": "bin", "-3": "neg key", "18446744073709551615": "big key", "1.5": "float key",
		"false": "bool key", "i": int64(-7), "u": uint64(math.MaxUint64), "f": 0.5, "n": nil,
		"a": []any{int64(1), "x"}, "m": map[string]any{"x": true}, "t": t0, "ts": t0,
	}
	if fmt.Sprint(v) != fmt.Sprint(want) {
		t.Fatalf("decoded\n %v\nwant\n %v", v, want)
	}
}

func TestDecodeTime(t *testing.T) {
	cases := []struct {
		name string
		in   []byte
		want time.Time
		err  string
	}{
		{"int", mp(t, 1764064800), time.Unix(1764064800, 0).UTC(), ""},
		{"uint64", mp(t, uint64(1764064800)), time.Unix(1764064800, 0).UTC(), ""},
		{"zero", mp(t, 0), time.Time{}, ""},
		{"nil", []byte{0xc0}, time.Time{}, ""},
		{"float", mp(t, 1764064800.5), time.Unix(1764064800, 5e8).UTC(), ""},
		{"event time", mp(t, et(time.Unix(1764064800, 7))), time.Unix(1764064800, 7).UTC(), ""},
		{"event time ext8", []byte{0xc7, 8, 0, 0x69, 0x25, 0x7e, 0x20, 0, 0, 0, 9}, time.Unix(1764064800, 9).UTC(), ""},
		{"msgpack timestamp", mp(t, time.Unix(1764064800, 11)), time.Unix(1764064800, 11).UTC(), ""},
		{"with metadata", mp(t, []any{et(time.Unix(1764064800, 3)), map[string]any{"m": 1}}), time.Unix(1764064800, 3).UTC(), ""},
		{"string", mp(t, "2026-11-25"), time.Time{}, "time is a msgpack str"},
		{"NaN", mp(t, math.NaN()), time.Time{}, "not a number of seconds"},
		{"huge uint", mp(t, uint64(math.MaxUint64)), time.Time{}, "out of range"},
		{"nested pair", mp(t, []any{[]any{1}}), time.Time{}, "not a time"},
		{"ext 7", []byte{0xd6, 7, 0, 0, 0, 0}, time.Time{}, "ext of type 7"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeTime(tc.in, true)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, %v; want error %q", got, err, tc.err)
				}
				return
			}
			if err != nil || !got.Equal(tc.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestDecodeMessage(t *testing.T) {
	lim := ingest.DefaultLimits()
	t.Run("empty tag", func(t *testing.T) {
		m, err := decodeMessage(mp(t, []any{"", 1764064800, map[string]any{"a": 1}}), lim)
		if err != nil || len(m.records) != 1 || m.records[0].Source != defaultSource {
			t.Fatalf("%+v, %v", m, err)
		}
	})
	t.Run("raw is the record", func(t *testing.T) {
		rec := mp(t, map[string]any{"a": 1})
		m, err := decodeMessage(mp(t, []any{"t", []any{[]any{1764064800, map[string]any{"a": 1}}}}), lim)
		if err != nil || len(m.records) != 1 || !bytes.Equal(m.records[0].Raw, rec) {
			t.Fatalf("%+v, %v", m, err)
		}
	})
	t.Run("the chunk id names the request", func(t *testing.T) {
		e := []any{0, map[string]any{"a": 1}}
		m, err := decodeMessage(mp(t, []any{"t", []any{e, e}, map[string]any{"chunk": "c-1"}}), lim)
		if err != nil || len(m.records) != 2 || m.records[0].RequestKey != "c-1" || m.records[1].RequestKey != "c-1" {
			t.Fatalf("%+v, %v", m, err)
		}
		m, err = decodeMessage(mp(t, []any{"t", []any{e, e}}), lim)
		if err != nil || m.records[0].RequestKey != "" {
			t.Fatalf("without a chunk id: %+v, %v", m, err)
		}
	})
	t.Run("too deep, each mode", func(t *testing.T) {
		ok := map[string]any{"a": 1}
		for name, in := range map[string][]any{
			"message": {"t", 1764064800, nested(40), map[string]any{"chunk": "c"}},
			"forward": {"t", []any{[]any{1764064800, ok}, []any{1764064800, nested(40)}, []any{1764064801, ok}}, map[string]any{"chunk": "c"}},
			"packed":  {"t", packed(t, []any{1764064800, ok}, []any{1764064800, nested(40)}, []any{1764064801, ok}), map[string]any{"chunk": "c"}},
		} {
			m, err := decodeMessage(mp(t, in), lim)
			if err != nil || m.malformed != 1 || m.chunk != "c" || !strings.Contains(m.firstWhy, "nests deeper than 32 levels") {
				t.Fatalf("%s: %+v, %v", name, m, err)
			}
			if name != "message" && len(m.records) != 2 {
				t.Fatalf("%s: %d records, want the 2 good ones", name, len(m.records))
			}
		}
	})
	t.Run("corrupt gzip keeps what inflated", func(t *testing.T) {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		for i := range 200 {
			_, _ = zw.Write(mp(t, []any{1764064800, map[string]any{"i": i, "pad": strings.Repeat("p", 100)}}))
		}
		_ = zw.Close()
		cut := buf.Bytes()[:buf.Len()/2]
		m, err := decodeMessage(mp(t, []any{"t", cut, map[string]any{"compressed": "gzip"}}), lim)
		if err != nil || len(m.records) == 0 || m.malformed == 0 {
			t.Fatalf("%d records, %d malformed, %v", len(m.records), m.malformed, err)
		}
	})
	t.Run("gzip bomb", func(t *testing.T) {
		small := lim
		small.MaxRequestBytes = 64 << 10
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write(make([]byte, 1<<20))
		_ = zw.Close()
		_, err := decodeMessage(mp(t, []any{"t", buf.Bytes(), map[string]any{"compressed": "gzip"}}), small)
		if err == nil || !strings.Contains(err.Error(), "inflates to more than 64.0 KiB") {
			t.Fatalf("got %v", err)
		}
	})
}

// vmihailenco/msgpack reads what the server writes.
func TestAnswersDecode(t *testing.T) {
	b := appendStr(appendStr(appendMap(nil, 1), "ack"), strings.Repeat("c", 300))
	b = appendBin(appendArray(b, 2), make([]byte, 70000))
	b = appendBool(b, false)
	b = appendStr(appendMap(b, 0), strings.Repeat("s", 70000))
	dec := msgpack.NewDecoder(bytes.NewReader(b))
	for i := range 4 {
		if _, err := dec.DecodeInterface(); err != nil {
			t.Fatalf("value %d: %v", i, err)
		}
	}
}
