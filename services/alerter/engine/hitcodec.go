package engine

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/valyala/fastjson"

	"github.com/jetlog/jetlog/libs/event"
	"github.com/jetlog/jetlog/services/alerter/rule"
)

// The hits of ALERT_HITS are written and read by hand: with encoding/json
// they were a third of the alerter's CPU. The bytes are those encoding/json
// writes for a Hit (the same names, omitempty kept), so either side reads
// the other's.

// AppendJSON appends the hit as a JSON object.
func (h *Hit) AppendJSON(b []byte) []byte {
	b = append(b, `{"r":`...)
	b = event.AppendJSONString(b, h.Rule)
	b = append(b, `,"ver":`...)
	b = event.AppendJSONString(b, h.Version)
	b = append(b, `,"k":`...)
	b = event.AppendJSONString(b, h.Key)
	if len(h.Group) > 0 {
		b = append(b, `,"g":{`...)
		first := true
		for k, v := range h.Group {
			if !first {
				b = append(b, ',')
			}
			first = false
			b = event.AppendJSONString(b, k)
			b = append(b, ':')
			b = event.AppendJSONString(b, v)
		}
		b = append(b, '}')
	}
	b = append(b, `,"id":`...)
	b = event.AppendJSONString(b, h.ID)
	b = append(b, `,"t":"`...)
	b = h.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	if h.Value != 0 && !math.IsInf(h.Value, 0) && !math.IsNaN(h.Value) {
		b = append(b, `,"v":`...)
		b = strconv.AppendFloat(b, h.Value, 'g', -1, 64)
	}
	if h.HasValue {
		b = append(b, `,"hv":true`...)
	}
	if h.Term != "" {
		b = append(b, `,"term":`...)
		b = event.AppendJSONString(b, h.Term)
	}
	if h.HasTerm {
		b = append(b, `,"ht":true`...)
	}
	b = append(b, `,"ev":{`...)
	n := len(b)
	for _, f := range [...]struct{ name, v string }{{"id", h.Event.ID}, {"body", h.Event.Body}, {"source", h.Event.Source},
		{"dataset", h.Event.Dataset}, {"severity", h.Event.Severity}, {"service", h.Event.Service}, {"host", h.Event.Host}} {
		if f.v == "" {
			continue
		}
		if len(b) > n {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, f.name...)
		b = append(b, `":`...)
		b = event.AppendJSONString(b, f.v)
	}
	return append(b, `}}`...)
}

var hitParsers fastjson.ParserPool

// DecodeHits reads a JSON array of hits, or one hit. A hit of an array
// that cannot be read is left out, and the first such error is returned
// with the others: one bad hit does not take its batch's down with it.
func DecodeHits(data []byte) ([]Hit, error) {
	p := hitParsers.Get()
	defer hitParsers.Put(p)
	v, err := p.ParseBytes(data)
	if err != nil {
		return nil, err
	}
	switch v.Type() {
	case fastjson.TypeArray:
		items, _ := v.Array()
		hs := make([]Hit, 0, len(items))
		var first error
		for i, it := range items {
			var h Hit
			if err := decodeHit(it, &h); err != nil {
				if first == nil {
					first = fmt.Errorf("hit %d of %d: %w", i, len(items), err)
				}
				continue
			}
			hs = append(hs, h)
		}
		return hs, first
	case fastjson.TypeObject:
		var h Hit
		if err := decodeHit(v, &h); err != nil {
			return nil, err
		}
		return []Hit{h}, nil
	}
	return nil, fmt.Errorf("hits: a %s, want an array or an object", v.Type())
}

func decodeHit(v *fastjson.Value, h *Hit) error {
	o, err := v.Object()
	if err != nil {
		return err
	}
	o.Visit(func(k []byte, v *fastjson.Value) {
		if err != nil {
			return
		}
		switch string(k) {
		case "r":
			h.Rule, err = str(v)
		case "ver":
			h.Version, err = str(v)
		case "k":
			h.Key, err = str(v)
		case "id":
			h.ID, err = str(v)
		case "term":
			h.Term, err = str(v)
		case "t":
			var s string
			if s, err = str(v); err == nil {
				h.Time, err = time.Parse(time.RFC3339Nano, s)
			}
		case "v":
			h.Value, err = v.Float64()
		case "hv":
			h.HasValue, err = v.Bool()
		case "ht":
			h.HasTerm, err = v.Bool()
		case "g":
			err = decodeGroup(v, h)
		case "ev":
			err = decodeSummary(v, &h.Event)
		}
		if err != nil {
			err = fmt.Errorf("%s: %w", k, err)
		}
	})
	return err
}

func str(v *fastjson.Value) (string, error) {
	b, err := v.StringBytes()
	return string(b), err
}

func decodeGroup(v *fastjson.Value, h *Hit) error {
	if v.Type() == fastjson.TypeNull {
		return nil
	}
	o, err := v.Object()
	if err != nil {
		return err
	}
	h.Group = make(map[string]string, o.Len())
	o.Visit(func(k []byte, v *fastjson.Value) {
		if err == nil {
			var s string
			s, err = str(v)
			h.Group[string(k)] = s
		}
	})
	return err
}

func decodeSummary(v *fastjson.Value, s *rule.EventSummary) error {
	o, err := v.Object()
	if err != nil {
		return err
	}
	o.Visit(func(k []byte, v *fastjson.Value) {
		if err != nil {
			return
		}
		var dst *string
		switch string(k) {
		case "id":
			dst = &s.ID
		case "body":
			dst = &s.Body
		case "source":
			dst = &s.Source
		case "dataset":
			dst = &s.Dataset
		case "severity":
			dst = &s.Severity
		case "service":
			dst = &s.Service
		case "host":
			dst = &s.Host
		default:
			return
		}
		*dst, err = str(v)
	})
	return err
}
