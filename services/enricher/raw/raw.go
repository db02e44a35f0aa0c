// Package raw decodes what arrives on the raw subjects (logs.raw.<source>)
// into events. Three shapes are understood:
//
//   - an event as the ingest gateway publishes it: jetlog's event JSON, in
//     a message marked with the header Jetlog-Format: event/v1
//     (event.FormatHeader), used as it is;
//   - Fluent Bit's nats output: a JSON array of [epoch_seconds, record]
//     pairs, one event per pair;
//   - anything else: a JSON object is one record, other bytes are one line
//     of text.
//
// Only the header makes a message an event, never its content: a shipper's
// JSON line with "id" and "@timestamp" of its own is a record like any
// other, and keeps all its fields.
//
// An event without a shipper-given id gets a deterministic one from the
// source, its bytes and its time, so a redelivery or replay yields the same
// ids.
package raw

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"

	"github.com/jetlog/jetlog/libs/event"
	"github.com/jetlog/jetlog/libs/jsonscan"
	"github.com/jetlog/jetlog/libs/topology"
)

// Limits bound what one raw message may hold.
type Limits struct {
	// MaxDepth is the deepest JSON nesting accepted.
	MaxDepth int `yaml:"max_depth"`
	// MaxRecords is the most records one message may carry (Fluent Bit's
	// nats output sends a whole chunk, about 2 MB, as one message).
	MaxRecords int `yaml:"max_records"`
}

// DefaultLimits are generous for real logs and stop pathological input.
func DefaultLimits() Limits { return Limits{MaxDepth: 64, MaxRecords: 100000} }

// Message is what Decode needs of a raw message.
type Message struct {
	Subject string
	Data    []byte
	Header  nats.Header
	// Time is when JetStream stored it: the fallback timestamp, stable
	// across redeliveries.
	Time time.Time
	// Unmarked says the message was stored before the upgrade that made
	// the gateway mark its events (topology.UnmarkedEventsUntil): without
	// the header, a body that is an event whose id is the message's
	// Nats-Msg-Id (as that gateway always published) is read as the event.
	Unmarked bool
}

// Source derives the event source from a raw subject: logs.raw.web.access
// gives "web.access".
func Source(subject string) string {
	s := strings.TrimPrefix(subject, topology.RawPrefix)
	if s == subject || s == "" {
		return subject
	}
	return s
}

// Decode turns one raw message into its events. Every error is permanent:
// the same bytes will never decode.
func Decode(m Message, lim Limits) ([]*event.Event, error) {
	data := bytes.TrimSpace(m.Data)
	if len(data) == 0 {
		return nil, errors.New("empty message")
	}
	src := Source(m.Subject)
	now := time.Now().UTC()
	if m.Time.IsZero() {
		m.Time = now
	}
	if !utf8.Valid(data) {
		return nil, errors.New("message is not valid UTF-8")
	}
	switch data[0] {
	case '{', '[':
		if err := jsonscan.Depth(data, lim.MaxDepth); err != nil {
			return nil, fmt.Errorf("%w (set raw.max_depth)", err)
		}
	}
	f := m.Header.Get(event.FormatHeader)
	if f == "" && m.Unmarked && data[0] == '{' {
		if ev, err := decodeEvent(data); err == nil && ev.ID != "" && ev.ID == m.Header.Get(nats.MsgIdHdr) {
			if ev.Source == "" {
				ev.Source = src
			}
			return []*event.Event{ev}, nil
		}
	}
	switch f {
	case "":
	case event.FormatEventV1:
		ev, err := decodeEvent(data)
		if err != nil {
			return nil, err
		}
		if ev.Source == "" {
			ev.Source = src
		}
		return []*event.Event{ev}, nil
	default:
		return nil, fmt.Errorf("%s %q is not a format this enricher reads (it reads %s): upgrade the enricher, or fix the publisher", event.FormatHeader, f, event.FormatEventV1)
	}
	switch data[0] {
	case '{':
		rec, err := event.DecodeFields(data)
		if err != nil {
			return nil, fmt.Errorf("malformed JSON object: %w", err)
		}
		ev := event.FromRecord(rec, m.Time, now)
		ev.Source = src
		ev.ID = msgID(m, src, data, m.Time)
		return []*event.Event{ev}, nil
	case '[':
		return decodeFluentBit(m, src, data, lim, now)
	}
	ev := &event.Event{Timestamp: m.Time, ObservedTimestamp: now, Body: string(data), Source: src}
	ev.ID = msgID(m, src, data, m.Time)
	return []*event.Event{ev}, nil
}

// msgID uses the publisher's Nats-Msg-Id when there is one (one event per
// message), else derives the id.
func msgID(m Message, src string, data []byte, ts time.Time) string {
	if id := m.Header.Get(nats.MsgIdHdr); id != "" {
		return event.IDFromShipper(src, id)
	}
	return event.NewID(src, data, ts)
}

// decodeEvent reads a message marked as jetlog's event JSON; anything else
// under that mark is the publisher's mistake, and permanent.
func decodeEvent(data []byte) (*event.Event, error) {
	ev, err := event.Unmarshal(data)
	if err != nil {
		return nil, fmt.Errorf("message marked %s: %s is not a jetlog event: %w", event.FormatHeader, event.FormatEventV1, err)
	}
	if ev.Timestamp.IsZero() {
		return nil, fmt.Errorf("message marked %s: %s is not a jetlog event: no @timestamp", event.FormatHeader, event.FormatEventV1)
	}
	return ev, nil
}

// decodeFluentBit reads Fluent Bit's nats output format:
// [[1795575198.972944, {"tag": "app.web", "msg": "hi"}], …].
func decodeFluentBit(m Message, src string, data []byte, lim Limits, now time.Time) ([]*event.Event, error) {
	var pairs []json.RawMessage
	if err := json.Unmarshal(data, &pairs); err != nil {
		return nil, fmt.Errorf("malformed JSON array: %w", err)
	}
	if len(pairs) > lim.MaxRecords {
		return nil, fmt.Errorf("%d records in one message, limit %d (set raw.max_records)", len(pairs), lim.MaxRecords)
	}
	out := make([]*event.Event, 0, len(pairs))
	for i, p := range pairs {
		var pair []json.RawMessage
		if err := json.Unmarshal(p, &pair); err != nil || len(pair) != 2 {
			return nil, fmt.Errorf("record %d: want [timestamp, {record}] as Fluent Bit's nats output sends", i)
		}
		var tsNum json.Number
		if err := json.Unmarshal(pair[0], &tsNum); err != nil {
			return nil, fmt.Errorf("record %d: timestamp %s is not a number", i, pair[0])
		}
		f, err := tsNum.Float64()
		if err != nil {
			return nil, fmt.Errorf("record %d: timestamp %s: %w", i, pair[0], err)
		}
		ts, err := event.ParseTime(f)
		if err != nil {
			return nil, fmt.Errorf("record %d: %w", i, err)
		}
		rec, err := event.DecodeFields(pair[1])
		if err != nil {
			return nil, fmt.Errorf("record %d: record is not a JSON object: %w", i, err)
		}
		recSrc := src
		if tag, ok := rec["tag"].(string); ok && tag != "" {
			recSrc = Source(tag)
			delete(rec, "tag")
		}
		ev := event.FromRecord(rec, ts, now)
		ev.Source = recSrc
		ev.ID = event.NewID(recSrc, pair[1], ts)
		out = append(out, ev)
	}
	if len(out) == 0 {
		return nil, errors.New("empty record array")
	}
	return out, nil
}
