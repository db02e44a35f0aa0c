package forward

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"

	"github.com/jetlog/jetlog/services/gateway/ingest"
)

// refScan is the reference the scanner is checked against: vmihailenco's
// msgpack decoder walks the first value of b recursively and reports its
// length and depth (counted as the scanner counts it: the value at 1).
func refScan(b []byte) (n, depth int, err error) {
	r := bytes.NewReader(b)
	d := msgpack.NewDecoder(r)
	depth, err = refDepth(d)
	return len(b) - r.Len(), depth, err // a bytes.Reader is read unbuffered
}

var fuzzTime = time.Date(2026, 11, 25, 10, 0, 0, 1, time.UTC)

func refDepth(d *msgpack.Decoder) (int, error) {
	c, err := d.PeekCode()
	if err != nil {
		return 0, err
	}
	var n, per int
	switch {
	case msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32:
		n, err = d.DecodeArrayLen()
		per = 1
	case msgpcode.IsFixedMap(c) || c == msgpcode.Map16 || c == msgpcode.Map32:
		n, err = d.DecodeMapLen()
		per = 2
	default:
		return 1, d.Skip()
	}
	if err != nil {
		return 0, err
	}
	deepest := 0
	for range n * per {
		dd, err := refDepth(d)
		if err != nil {
			return 0, err
		}
		deepest = max(deepest, dd)
	}
	return 1 + deepest, nil
}

// FuzzScanner checks the iterative scanner against the reference: it never
// panics, accepts exactly the values the reference reads, with the same
// length, and refuses exactly those deeper than the limit; resumed on a
// prefix, it answers as it does at once.
func FuzzScanner(f *testing.F) {
	for _, seed := range [][]byte{
		{0x01}, {0xc0}, {0xc1}, {0x91, 0x91, 0x01}, {0x81, 0xa1, 'a', 0x90},
		{0xdd, 0xff, 0xff, 0xff, 0xff}, {0xc7, 0x02, 0x00, 'a', 'b'}, {0xd8, 0x01},
		mp(f, []any{"tag", []any{[]any{1764064800, map[string]any{"a": []any{1, "b"}}}}, map[string]any{"chunk": "c"}}),
		mp(f, []any{"tag", []byte{0x92, 0x01, 0x80}}),
	} {
		f.Add(seed, uint8(3))
	}
	f.Fuzz(func(t *testing.T, b []byte, depth uint8) {
		limit := 1 + int(depth%40)
		n, err := scanValue(b, limit)
		rn, rdepth, rerr := refScan(b)
		switch {
		case err == nil || err == errTooDeep:
			if rerr != nil {
				t.Fatalf("scanner accepted %d bytes (%v); the reference fails: %v", n, err, rerr)
			}
			if n != rn {
				t.Fatalf("scanner read %d bytes, the reference %d", n, rn)
			}
			if (err == errTooDeep) != (rdepth > limit) {
				t.Fatalf("scanner says %v at limit %d; the reference depth is %d", err, limit, rdepth)
			}
			if err == nil {
				v, vn, derr := decodeValue(b[:n])
				if derr != nil || vn != n {
					t.Fatalf("decodeValue after the scanner: %d of %d bytes, %v", vn, n, derr)
				}
				_ = v
			}
		case errors.Is(err, errShort) || errors.Is(err, errInvalid):
			if rerr == nil {
				t.Fatalf("scanner refused (%v) what the reference reads: %d bytes, depth %d", err, rn, rdepth)
			}
		default:
			t.Fatalf("unexpected scanner error %v", err)
		}
		// Resumed: a prefix first, then everything.
		var s scanner
		s.reset(limit, len(b), false)
		half := len(b) / 2
		if _, herr := s.scan(b[:half]); herr != nil && herr != errShort {
			return // decided within the prefix already
		}
		n2, err2 := s.scan(b)
		if err2 == errTooBig {
			err2 = errShort
		}
		if n2 != n || err2 != err {
			t.Fatalf("resumed scan = %d, %v; at once %d, %v", n2, err2, n, err)
		}
	})
}

// FuzzDecodeMessage runs a byte stream through the connection's framer and
// the message decoder: nothing panics, and every record produced has a
// source, fields and its raw bytes.
func FuzzDecodeMessage(f *testing.F) {
	seeds := []any{
		[]any{"tag", 1764064800, map[string]any{"a": 1}, map[string]any{"chunk": "c"}},
		[]any{"tag", []any{[]any{1764064800, map[string]any{"a": 1}}, []any{et(fuzzTime), map[any]any{int64(1): []byte("x")}}}},
		[]any{"tag", packed(f, []any{1764064800, map[string]any{"a": 1}}, []any{[]any{et(fuzzTime), map[string]any{}}, map[string]any{"b": nil}})},
		[]any{"tag", packed(f, []any{1764064800, map[string]any{"a": 1}}), map[string]any{"compressed": "gzip"}},
		[]any{"", "str entries", map[string]any{"chunk": 1}},
		nil,
	}
	for _, s := range seeds {
		f.Add(mp(f, s))
	}
	f.Add([]byte{0x92, 0xa1, 't', 0xc4, 0x03, 0x92, 0x01, 0x80, 0xc0, 0x93, 0xa1, 't', 0x00})
	lim := ingest.DefaultLimits()
	lim.MaxRequestBytes = 1 << 20
	lim.MaxBatchRecords = 1000
	f.Fuzz(func(t *testing.T, b []byte) {
		fr := newFramer(bytes.NewReader(b), lim.MaxRequestBytes, lim.MaxDepth, nil)
		for {
			msg, err := fr.next()
			if err != nil {
				if err == io.EOF || err == errIncomplete || err == errInvalid || err == errTooDeep {
					return
				}
				var tl *tooLargeError
				if errors.As(err, &tl) {
					return
				}
				t.Fatalf("framer: %v", err)
			}
			m, err := decodeMessage(msg, lim)
			if err != nil {
				var re *requestError
				if !errors.As(err, &re) {
					t.Fatalf("decodeMessage error %T %v, want *requestError", err, err)
				}
				continue
			}
			if len(m.records)+m.malformed > m.entries || len(m.records) > lim.MaxBatchRecords {
				t.Fatalf("%d records and %d malformed of %d entries", len(m.records), m.malformed, m.entries)
			}
			for i, r := range m.records {
				if r.Source == "" || r.Fields == nil || len(r.Raw) == 0 {
					t.Fatalf("record %d: %+v", i, r)
				}
			}
		}
	})
}
