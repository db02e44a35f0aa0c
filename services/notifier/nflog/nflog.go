// Package nflog is the notification log: for each group, receiver and
// integration, what was last sent (the firing and resolved alerts, when,
// and the notification's sequence number) and what is being sent now (the
// intent, written before the first attempt).
//
// It lives in a JetStream KV bucket, so a notifier that restarts, or
// another copy that takes over, knows what the receiver has already been
// told: it does not send the same notification again within its repeat
// interval, and it finishes a notification that was cut short with the
// same id, which a receiver deduplicating on that id sees once. Writes are
// compare-and-set on the revision last read, so two notifiers never both
// claim one notification.
package nflog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetlog/jetlog/libs/event"
)

// Entry is the state of one group's notifications to one integration.
type Entry struct {
	GroupKey    string `json:"groupKey"`
	Receiver    string `json:"receiver"`
	Integration string `json:"integration"`
	// Firing and Resolved are the alerts (occurrence keys) of the last
	// notification the receiver accepted, sorted.
	Firing   []string `json:"firing"`
	Resolved []string `json:"resolved"`
	// SentAt is when it was accepted; zero when nothing was.
	SentAt time.Time `json:"sentAt"`
	// Seq numbers the group's notifications to this integration.
	Seq uint64 `json:"seq"`
	// Pending is the notification being delivered: recorded before the
	// first attempt, cleared when the receiver accepted it.
	Pending *Pending `json:"pending,omitempty"`
}

// Pending is a notification decided and not yet known to be delivered.
type Pending struct {
	ID       string    `json:"id"`
	Seq      uint64    `json:"seq"`
	Firing   []string  `json:"firing"`
	Resolved []string  `json:"resolved"`
	At       time.Time `json:"at"`
}

// Same reports whether p is about exactly these alerts.
func (p *Pending) Same(firing, resolved []string) bool {
	return slices.Equal(p.Firing, firing) && slices.Equal(p.Resolved, resolved)
}

// NotificationID returns the id of the seq-th notification about these
// alerts for the entry key: stable, so the notification keeps it across
// retries and restarts, and different for every other notification.
func NotificationID(key string, seq uint64, firing, resolved []string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%d\x00", key, seq)
	for _, f := range firing {
		h.Write([]byte(f))
		h.Write([]byte{1})
	}
	h.Write([]byte{0})
	for _, r := range resolved {
		h.Write([]byte(r))
		h.Write([]byte{1})
	}
	return "ntf_" + hex.EncodeToString(h.Sum(nil)[:16])
}

// AppendJSON appends e as JSON, as encoding/json would write it (the
// notification log is written twice per notification: written by hand, it
// costs a fraction of the reflecting encoder).
func (e *Entry) AppendJSON(b []byte) []byte {
	b = append(b, `{"groupKey":`...)
	b = event.AppendJSONString(b, e.GroupKey)
	b = append(b, `,"receiver":`...)
	b = event.AppendJSONString(b, e.Receiver)
	b = append(b, `,"integration":`...)
	b = event.AppendJSONString(b, e.Integration)
	b = appendList(append(b, `,"firing":`...), e.Firing)
	b = appendList(append(b, `,"resolved":`...), e.Resolved)
	b = event.AppendJSONTime(append(b, `,"sentAt":`...), e.SentAt)
	b = strconv.AppendUint(append(b, `,"seq":`...), e.Seq, 10)
	if p := e.Pending; p != nil {
		b = append(b, `,"pending":{"id":`...)
		b = event.AppendJSONString(b, p.ID)
		b = strconv.AppendUint(append(b, `,"seq":`...), p.Seq, 10)
		b = appendList(append(b, `,"firing":`...), p.Firing)
		b = appendList(append(b, `,"resolved":`...), p.Resolved)
		b = event.AppendJSONTime(append(b, `,"at":`...), p.At)
		b = append(b, '}')
	}
	return append(b, '}')
}

func appendList(b []byte, l []string) []byte {
	if l == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range l {
		if i > 0 {
			b = append(b, ',')
		}
		b = event.AppendJSONString(b, s)
	}
	return append(b, ']')
}

// Key returns the KV key of a group's entry for one integration.
func Key(groupKey, receiver, integration string) string {
	h := sha256.Sum256([]byte(groupKey + "\x00" + receiver + "\x00" + integration))
	return hex.EncodeToString(h[:16])
}

// ErrConflict means another writer changed the entry since it was read
// (another notifier copy): the caller re-reads it and decides again.
var ErrConflict = errors.New("notification log entry changed by another notifier")

// Log is the notification log over a KV bucket, cached in memory (the
// bucket is read once at start).
type Log struct {
	kv jetstream.KeyValue

	mu      sync.Mutex
	entries map[string]*cached
}

type cached struct {
	e   *Entry
	rev uint64
}

// Open loads the log from the bucket.
func Open(ctx context.Context, kv jetstream.KeyValue) (*Log, error) {
	l := &Log{kv: kv, entries: map[string]*cached{}}
	keys, err := kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the notification log %s: %w", kv.Bucket(), err)
	}
	for k := range keys.Keys() {
		if err := l.reload(ctx, k); err != nil {
			return nil, err
		}
	}
	return l, nil
}

func (l *Log) reload(ctx context.Context, key string) error {
	kve, err := l.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		l.mu.Lock()
		delete(l.entries, key)
		l.mu.Unlock()
		return nil
	}
	if err != nil {
		return fmt.Errorf("read notification log entry %s: %w", key, err)
	}
	var e Entry
	if err := json.Unmarshal(kve.Value(), &e); err != nil {
		return fmt.Errorf("notification log entry %s: %w", key, err)
	}
	l.mu.Lock()
	l.entries[key] = &cached{e: &e, rev: kve.Revision()}
	l.mu.Unlock()
	return nil
}

// Get returns a copy of the entry for key, or nil.
func (l *Log) Get(key string) *Entry {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.entries[key]
	if c == nil {
		return nil
	}
	e := *c.e
	if e.Pending != nil {
		p := *e.Pending
		e.Pending = &p
	}
	return &e
}

// Put writes e for key if nobody wrote the key since this log last read
// or wrote it; ErrConflict otherwise (the cache is then refreshed).
func (l *Log) Put(ctx context.Context, key string, e *Entry) error {
	data := e.AppendJSON(nil)
	var err error
	l.mu.Lock()
	var rev uint64
	if c := l.entries[key]; c != nil {
		rev = c.rev
	}
	l.mu.Unlock()
	var nrev uint64
	if rev == 0 {
		nrev, err = l.kv.Create(ctx, key, data)
	} else {
		nrev, err = l.kv.Update(ctx, key, data, rev)
	}
	if err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			_ = l.reload(ctx, key)
			return fmt.Errorf("%w (key %s)", ErrConflict, key)
		}
		return fmt.Errorf("write notification log entry %s: %w", key, err)
	}
	cp := *e
	l.mu.Lock()
	l.entries[key] = &cached{e: &cp, rev: nrev}
	l.mu.Unlock()
	return nil
}

// Len returns the number of entries.
func (l *Log) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}
