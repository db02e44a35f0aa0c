package forward

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
)

// This file is the package's own msgpack layer: a header parser, an
// iterative scanner that finds where a value ends and how deep it nests
// without building it, a decoder into the Go values the publisher checks
// (map[string]any, []any, string, int64, uint64, float64, bool, nil,
// time.Time, []byte), and the few encoders the answers need. The scanner
// runs before the decoder on every byte the decoder sees, so the decoder's
// recursion is bounded by the depth limit.

// Scanner errors.
var (
	// errShort: the bytes end inside the value (truncated input, or more
	// must be read).
	errShort = errors.New("truncated msgpack value")
	// errInvalid: the reserved byte 0xc1, which no encoder produces.
	errInvalid = errors.New("invalid msgpack: reserved byte 0xc1")
	// errTooDeep: the value nests deeper than the limit.
	errTooDeep = errors.New("msgpack value nested too deep")
	// errTooBig: the value cannot fit in the byte limit of the scan.
	errTooBig = errors.New("msgpack value larger than the limit")
)

// kind is the type of a msgpack item.
type kind uint8

const (
	kNil kind = iota
	kBool
	kInt
	kUint
	kFloat
	kStr
	kBin
	kArray
	kMap
	kExt
)

var kindNames = [...]string{"nil", "bool", "int", "uint", "float", "str", "bin", "array", "map", "ext"}

func (k kind) String() string { return kindNames[k] }

// header is one parsed msgpack item header.
type header struct {
	kind kind
	hlen int    // bytes of the header, including scalar values
	n    uint64 // payload bytes (str, bin, ext) or elements (array) or pairs (map)
	i    int64  // kInt value
	u    uint64 // kUint value
	f    float64
	b    bool
	ext  int8 // kExt type
}

// size is the item's own bytes: header plus payload, not its children.
func (h *header) size() uint64 {
	switch h.kind {
	case kStr, kBin, kExt:
		return uint64(h.hlen) + h.n
	}
	return uint64(h.hlen)
}

// children is the number of items nested directly in the item.
func (h *header) children() uint64 {
	switch h.kind {
	case kArray:
		return h.n
	case kMap:
		return 2 * h.n
	}
	return 0
}

// parseHeader reads the header of the item at b[0]. It returns errShort
// when b ends inside the header (not the payload: callers check that).
func parseHeader(b []byte) (header, error) {
	if len(b) == 0 {
		return header{}, errShort
	}
	c := b[0]
	switch {
	case c <= 0x7f:
		return header{kind: kInt, hlen: 1, i: int64(c)}, nil
	case c >= 0xe0:
		return header{kind: kInt, hlen: 1, i: int64(int8(c))}, nil
	case c <= 0x8f:
		return header{kind: kMap, hlen: 1, n: uint64(c & 0x0f)}, nil
	case c <= 0x9f:
		return header{kind: kArray, hlen: 1, n: uint64(c & 0x0f)}, nil
	case c <= 0xbf:
		return header{kind: kStr, hlen: 1, n: uint64(c & 0x1f)}, nil
	}
	// need returns the big-endian unsigned integer of w bytes after the
	// first k bytes, or false when b is too short.
	need := func(k, w int) (uint64, bool) {
		if len(b) < k+w {
			return 0, false
		}
		p := b[k : k+w]
		switch w {
		case 1:
			return uint64(p[0]), true
		case 2:
			return uint64(binary.BigEndian.Uint16(p)), true
		case 4:
			return uint64(binary.BigEndian.Uint32(p)), true
		}
		return binary.BigEndian.Uint64(p), true
	}
	var h header
	var v uint64
	ok := true
	switch c {
	case 0xc0:
		h = header{kind: kNil, hlen: 1}
	case 0xc1:
		return header{}, errInvalid
	case 0xc2, 0xc3:
		h = header{kind: kBool, hlen: 1, b: c == 0xc3}
	case 0xc4, 0xc5, 0xc6: // bin 8/16/32
		w := 1 << (c - 0xc4)
		v, ok = need(1, w)
		h = header{kind: kBin, hlen: 1 + w, n: v}
	case 0xc7, 0xc8, 0xc9: // ext 8/16/32: length, then type
		w := 1 << (c - 0xc7)
		v, ok = need(1, w)
		if ok && len(b) < 2+w {
			ok = false
		}
		if ok {
			h = header{kind: kExt, hlen: 2 + w, n: v, ext: int8(b[1+w])}
		}
	case 0xca:
		v, ok = need(1, 4)
		h = header{kind: kFloat, hlen: 5, f: float64(math.Float32frombits(uint32(v)))}
	case 0xcb:
		v, ok = need(1, 8)
		h = header{kind: kFloat, hlen: 9, f: math.Float64frombits(v)}
	case 0xcc, 0xcd, 0xce, 0xcf: // uint 8/16/32/64
		w := 1 << (c - 0xcc)
		v, ok = need(1, w)
		h = header{kind: kUint, hlen: 1 + w, u: v}
	case 0xd0, 0xd1, 0xd2, 0xd3: // int 8/16/32/64
		w := 1 << (c - 0xd0)
		v, ok = need(1, w)
		var i int64
		switch w {
		case 1:
			i = int64(int8(v))
		case 2:
			i = int64(int16(v))
		case 4:
			i = int64(int32(v))
		default:
			i = int64(v)
		}
		h = header{kind: kInt, hlen: 1 + w, i: i}
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext 1/2/4/8/16: type, data
		if len(b) < 2 {
			ok = false
		} else {
			h = header{kind: kExt, hlen: 2, n: 1 << (c - 0xd4), ext: int8(b[1])}
		}
	case 0xd9, 0xda, 0xdb: // str 8/16/32
		w := 1 << (c - 0xd9)
		v, ok = need(1, w)
		h = header{kind: kStr, hlen: 1 + w, n: v}
	case 0xdc, 0xdd: // array 16/32
		w := 2 << (c - 0xdc)
		v, ok = need(1, w)
		h = header{kind: kArray, hlen: 1 + w, n: v}
	case 0xde, 0xdf: // map 16/32
		w := 2 << (c - 0xde)
		v, ok = need(1, w)
		h = header{kind: kMap, hlen: 1 + w, n: v}
	}
	if !ok {
		return header{}, errShort
	}
	return h, nil
}

// scanner finds the end of one msgpack value and checks its nesting,
// item by item and without recursion. It can resume: when the bytes end
// inside the value it reports errShort and keeps its state, so a stream
// reader calls it again with more bytes (the same prefix plus what came).
//
// Depth is counted the way ingest.Limits counts it: the value itself is at
// depth 1, the elements of an array or the keys and values of a map one
// deeper. Memory is bounded by maxDepth (one counter per open container),
// never by the input: past maxDepth the scanner either stops (stopDeep)
// or keeps a single count of the items still owed to find the value's end.
type scanner struct {
	maxDepth int  // deepest item accepted
	limit    int  // most bytes the value may take
	stopDeep bool // report errTooDeep at once instead of finding the end

	off     int      // bytes of the value consumed so far
	pending uint64   // items still owed before the value ends
	stack   []uint64 // items still owed by each open container, while within maxDepth
	deep    bool     // an item was deeper than maxDepth
}

// reset prepares s for a new value.
func (s *scanner) reset(maxDepth, limit int, stopDeep bool) {
	s.maxDepth, s.limit, s.stopDeep = maxDepth, limit, stopDeep
	s.off, s.pending, s.stack, s.deep = 0, 1, s.stack[:0], false
	if s.stack == nil {
		s.stack = make([]uint64, 0, min(maxDepth, 64))
	}
}

// scan continues over b, which holds the value from its first byte. It
// returns the value's length, or errShort (call again with more bytes),
// errInvalid, errTooBig, or errTooDeep. With stopDeep unset errTooDeep
// comes with the value's length, once the whole value is in b.
func (s *scanner) scan(b []byte) (int, error) {
	for s.pending > 0 {
		if s.off >= len(b) {
			return 0, s.short(len(b))
		}
		h, err := parseHeader(b[s.off:])
		if err == errShort {
			return 0, s.short(len(b))
		}
		if err != nil {
			return 0, err
		}
		size := h.size()
		if size > uint64(s.limit-s.off) {
			return 0, errTooBig
		}
		if size > uint64(len(b)-s.off) {
			return 0, errShort
		}
		kids := h.children()
		if !s.deep {
			if len(s.stack)+1 > s.maxDepth {
				s.deep = true
				if s.stopDeep {
					return 0, errTooDeep
				}
			} else {
				if top := len(s.stack) - 1; top >= 0 {
					s.stack[top]--
				}
				if kids > 0 {
					s.stack = append(s.stack, kids)
				}
				for len(s.stack) > 0 && s.stack[len(s.stack)-1] == 0 {
					s.stack = s.stack[:len(s.stack)-1]
				}
			}
		}
		s.off += int(size)
		s.pending = s.pending - 1 + kids
		// Every owed item takes at least one byte: a container claiming
		// more items than bytes remain cannot end within the limit.
		if s.pending > uint64(s.limit-s.off) {
			return 0, errTooBig
		}
	}
	if s.deep {
		return s.off, errTooDeep
	}
	return s.off, nil
}

// short reports why b, of length n, ended inside the value.
func (s *scanner) short(n int) error {
	if n >= s.limit {
		return errTooBig
	}
	return errShort
}

// scanValue returns the length of the first msgpack value of b, checking
// it nests at most maxDepth deep. A value too deep is reported as
// errTooDeep together with its length, so a caller can skip it.
func scanValue(b []byte, maxDepth int) (int, error) {
	var s scanner
	s.reset(maxDepth, len(b), false)
	n, err := s.scan(b)
	if err == errTooBig {
		err = errShort // limit == len(b): the value claims more than b holds
	}
	return n, err
}

// reader reads items from a byte slice whose values were already checked
// by scanValue.
type reader struct {
	b   []byte
	off int
}

// header reads the next item's header and moves past it (not past its
// payload or children).
func (r *reader) header() (header, error) {
	h, err := parseHeader(r.b[r.off:])
	if err != nil {
		return h, err
	}
	if h.size() > uint64(len(r.b)-r.off) {
		return h, errShort
	}
	r.off += h.hlen
	return h, nil
}

// payload returns the n payload bytes of the item whose header was just
// read.
func (r *reader) payload(h header) []byte {
	p := r.b[r.off : r.off+int(h.n)]
	r.off += int(h.n)
	return p
}

// value returns the bytes of the next value, checked to nest at most
// maxDepth deep, and moves past it. A value too deep is returned with
// errTooDeep: the reader still moves past it.
func (r *reader) value(maxDepth int) ([]byte, error) {
	n, err := scanValue(r.b[r.off:], maxDepth)
	if n == 0 {
		return nil, err
	}
	v := r.b[r.off : r.off+n]
	r.off += n
	return v, err
}

// peek returns the next item's header without moving.
func (r *reader) peek() (header, error) {
	return parseHeader(r.b[r.off:])
}

// maxDecodeDepth guards the recursive decoder even if a caller skipped the
// scanner; ingest.Limits caps max_depth at 1000.
const maxDecodeDepth = 1100

// decodeValue decodes one value of b into a Go value: maps become
// map[string]any (non-string keys in their text form), arrays []any, str and
// bin strings (unchecked: the publisher rejects invalid UTF-8 and NUL
// bytes), integers int64 (uint64 above the int64 range), floats float64,
// EventTime and msgpack timestamps time.Time, other ext values []byte. It
// returns the bytes it used.
func decodeValue(b []byte) (any, int, error) {
	r := reader{b: b}
	v, err := r.decode(1)
	return v, r.off, err
}

func (r *reader) decode(depth int) (any, error) {
	if depth > maxDecodeDepth {
		return nil, errTooDeep
	}
	h, err := r.header()
	if err != nil {
		return nil, err
	}
	switch h.kind {
	case kNil:
		return nil, nil
	case kBool:
		return h.b, nil
	case kInt:
		return h.i, nil
	case kUint:
		if h.u <= math.MaxInt64 {
			return int64(h.u), nil
		}
		return h.u, nil
	case kFloat:
		return h.f, nil
	case kStr, kBin:
		return string(r.payload(h)), nil
	case kExt:
		p := r.payload(h)
		if t, ok := extTime(h.ext, p); ok {
			return t, nil
		}
		return append([]byte(nil), p...), nil
	case kArray:
		if h.n > uint64(len(r.b)-r.off) {
			return nil, errShort
		}
		a := make([]any, 0, h.n)
		for range h.n {
			v, err := r.decode(depth + 1)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
		return a, nil
	case kMap:
		return r.decodeMap(h, depth)
	}
	return nil, fmt.Errorf("msgpack: unexpected %s", h.kind)
}

// decodeMap decodes the pairs of a map whose header was just read.
func (r *reader) decodeMap(h header, depth int) (map[string]any, error) {
	if 2*h.n > uint64(len(r.b)-r.off) {
		return nil, errShort
	}
	m := make(map[string]any, h.n)
	for range h.n {
		k, err := r.decode(depth + 1)
		if err != nil {
			return nil, err
		}
		v, err := r.decode(depth + 1)
		if err != nil {
			return nil, err
		}
		m[keyString(k)] = v
	}
	return m, nil
}

// keyString gives a map key that is not a string its text form: numbers
// and booleans as Go prints them, nil as "null", anything else as JSON.
func keyString(k any) string {
	switch x := k.(type) {
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case uint64:
		return strconv.FormatUint(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case nil:
		return "null"
	case time.Time:
		return x.Format(time.RFC3339Nano)
	case []byte:
		return base64.StdEncoding.EncodeToString(x)
	}
	if j, err := json.Marshal(k); err == nil {
		return string(j)
	}
	return fmt.Sprint(k)
}

// extTime reads Fluentd's EventTime (ext type 0: big-endian uint32
// seconds, uint32 nanoseconds) and the msgpack timestamp extension (type
// -1, in its 4, 8 and 12 byte forms).
func extTime(typ int8, p []byte) (time.Time, bool) {
	switch {
	case typ == 0 && len(p) == 8:
		sec := binary.BigEndian.Uint32(p[:4])
		nsec := binary.BigEndian.Uint32(p[4:])
		if sec == 0 && nsec == 0 {
			return time.Time{}, true
		}
		return time.Unix(int64(sec), int64(nsec)).UTC(), true
	case typ == -1 && len(p) == 4:
		return time.Unix(int64(binary.BigEndian.Uint32(p)), 0).UTC(), true
	case typ == -1 && len(p) == 8:
		v := binary.BigEndian.Uint64(p)
		return time.Unix(int64(v&(1<<34-1)), int64(v>>34)).UTC(), true
	case typ == -1 && len(p) == 12:
		nsec := binary.BigEndian.Uint32(p[:4])
		sec := int64(binary.BigEndian.Uint64(p[4:]))
		return time.Unix(sec, int64(nsec)).UTC(), true
	}
	return time.Time{}, false
}

// Encoders for the server's answers (HELO, PONG, ack).

func appendArray(b []byte, n int) []byte {
	if n < 16 {
		return append(b, 0x90|byte(n))
	}
	return binary.BigEndian.AppendUint16(append(b, 0xdc), uint16(n))
}

func appendMap(b []byte, n int) []byte {
	if n < 16 {
		return append(b, 0x80|byte(n))
	}
	return binary.BigEndian.AppendUint16(append(b, 0xde), uint16(n))
}

func appendStr(b []byte, s string) []byte {
	switch n := len(s); {
	case n < 32:
		b = append(b, 0xa0|byte(n))
	case n < 1<<8:
		b = append(b, 0xd9, byte(n))
	case n < 1<<16:
		b = binary.BigEndian.AppendUint16(append(b, 0xda), uint16(n))
	default:
		b = binary.BigEndian.AppendUint32(append(b, 0xdb), uint32(n))
	}
	return append(b, s...)
}

func appendBin(b []byte, p []byte) []byte {
	switch n := len(p); {
	case n < 1<<8:
		b = append(b, 0xc4, byte(n))
	case n < 1<<16:
		b = binary.BigEndian.AppendUint16(append(b, 0xc5), uint16(n))
	default:
		b = binary.BigEndian.AppendUint32(append(b, 0xc6), uint32(n))
	}
	return append(b, p...)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 0xc3)
	}
	return append(b, 0xc2)
}
