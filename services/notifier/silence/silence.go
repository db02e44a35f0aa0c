// Package silence holds silences: label matchers that mute the alerts they
// match between a start and an end, with who made them and why, as
// Alertmanager's. They live in the `silences` KV bucket (one key per
// silence id), so the CLI (`jetlog silences add|ls|rm`), the API and every
// notifier see the same set; the notifier watches the bucket and applies a
// change at the next flush. A silence ends at its end time on its own;
// `rm` expires it at once. Expired silences stay in the bucket, for the
// record, until the notifier removes them after the retention.
package silence

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetlog/jetlog/libs/alert"
	"github.com/jetlog/jetlog/libs/topology"
	"github.com/jetlog/jetlog/services/notifier/match"
)

// Silence mutes the alerts its matchers match from StartsAt to EndsAt.
type Silence struct {
	ID        string    `json:"id"`
	Matchers  []string  `json:"matchers"`
	StartsAt  time.Time `json:"startsAt"`
	EndsAt    time.Time `json:"endsAt"`
	CreatedBy string    `json:"createdBy"`
	Comment   string    `json:"comment"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// The states of a silence.
const (
	StatePending = "pending"
	StateActive  = "active"
	StateExpired = "expired"
)

// State says whether the silence is pending, active or expired at now.
func (s *Silence) State(now time.Time) string {
	switch {
	case now.Before(s.StartsAt):
		return StatePending
	case now.Before(s.EndsAt):
		return StateActive
	}
	return StateExpired
}

// Validate checks a silence before it is stored.
func (s *Silence) Validate() error {
	var errs []error
	ms, err := match.Parse(s.Matchers)
	switch {
	case err != nil:
		errs = append(errs, fmt.Errorf("matchers: %w", err))
	case len(ms) == 0:
		errs = append(errs, errors.New("matchers: a silence needs at least one matcher"))
	case ms.Matches(map[string]string{}):
		errs = append(errs, fmt.Errorf("matchers: %v match an alert with no labels, so they would mute everything; add a matcher on a label alerts have", ms))
	}
	if !s.EndsAt.After(s.StartsAt) {
		errs = append(errs, fmt.Errorf("ends at %s, not after it starts at %s", s.EndsAt.Format(time.RFC3339), s.StartsAt.Format(time.RFC3339)))
	}
	if s.CreatedBy == "" {
		errs = append(errs, errors.New("createdBy is empty: say who silences"))
	}
	if s.Comment == "" {
		errs = append(errs, errors.New("comment is empty: say why"))
	}
	return errors.Join(errs...)
}

// Store reads and writes silences in the KV bucket.
type Store struct {
	kv  jetstream.KeyValue
	log *slog.Logger

	mu     sync.RWMutex
	active map[string]compiled
	ready  chan struct{}
}

type compiled struct {
	s  *Silence
	ms match.Matchers
}

// Open returns the store of the silences bucket.
func Open(ctx context.Context, js jetstream.JetStream, log *slog.Logger) (*Store, error) {
	kv, err := js.KeyValue(ctx, topology.SilencesBucket)
	if err != nil {
		return nil, fmt.Errorf("open the %s bucket: %w", topology.SilencesBucket, err)
	}
	if log == nil {
		log = slog.Default()
	}
	return &Store{kv: kv, log: log, active: map[string]compiled{}, ready: make(chan struct{})}, nil
}

// Add stores a new silence (or replaces one with the same id) and returns
// its id.
func (st *Store) Add(ctx context.Context, s *Silence) (string, error) {
	if err := s.Validate(); err != nil {
		return "", err
	}
	if s.ID == "" {
		b := make([]byte, 12)
		_, _ = rand.Read(b)
		s.ID = hex.EncodeToString(b)
	}
	s.UpdatedAt = time.Now().UTC()
	data, _ := json.Marshal(s)
	if _, err := st.kv.Put(ctx, s.ID, data); err != nil {
		return "", fmt.Errorf("store silence %s: %w", s.ID, err)
	}
	return s.ID, nil
}

// Get returns a silence by id.
func (st *Store) Get(ctx context.Context, id string) (*Silence, error) {
	e, err := st.kv.Get(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("silence %s: %w", id, err)
	}
	var s Silence
	if err := json.Unmarshal(e.Value(), &s); err != nil {
		return nil, fmt.Errorf("silence %s: %w", id, err)
	}
	return &s, nil
}

// List returns every silence in the bucket, newest first.
func (st *Store) List(ctx context.Context) ([]*Silence, error) {
	keys, err := st.kv.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	var out []*Silence
	for k := range keys.Keys() {
		s, err := st.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].StartsAt.After(out[j].StartsAt) })
	return out, nil
}

// Expire ends a silence now (it stays in the bucket, expired).
func (st *Store) Expire(ctx context.Context, id string, now time.Time) error {
	s, err := st.Get(ctx, id)
	if err != nil {
		return err
	}
	if s.State(now) == StateExpired {
		return nil
	}
	if now.Before(s.StartsAt) {
		s.StartsAt = now
	}
	s.EndsAt = now
	s.UpdatedAt = time.Now().UTC()
	data, _ := json.Marshal(s)
	_, err = st.kv.Put(ctx, id, data)
	return err
}

// Watch keeps the store's view of the silences current until ctx ends.
// It returns once the bucket's current silences are loaded.
func (st *Store) Watch(ctx context.Context) error {
	w, err := st.kv.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("watch the %s bucket: %w", topology.SilencesBucket, err)
	}
	first := make(chan struct{})
	go func() {
		defer func() { _ = w.Stop() }()
		loaded := false
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e == nil {
					if !loaded {
						loaded = true
						close(first)
					}
					continue
				}
				st.apply(e)
			}
		}
	}()
	select {
	case <-first:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (st *Store) apply(e jetstream.KeyValueEntry) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if e.Operation() != jetstream.KeyValuePut {
		delete(st.active, e.Key())
		return
	}
	var s Silence
	if err := json.Unmarshal(e.Value(), &s); err != nil {
		st.log.Warn("ignoring an unreadable silence", "id", e.Key(), "err", err)
		return
	}
	ms, err := match.Parse(s.Matchers)
	if err != nil || len(ms) == 0 {
		st.log.Warn("ignoring a silence with bad matchers", "id", e.Key(), "err", err)
		delete(st.active, e.Key())
		return
	}
	st.active[e.Key()] = compiled{s: &s, ms: ms}
}

// Mutes reports whether an active silence matches the alert's labels now.
func (st *Store) Mutes(a *alert.Alert, now time.Time) bool {
	st.mu.RLock()
	defer st.mu.RUnlock()
	for _, c := range st.active {
		if c.s.State(now) == StateActive && c.ms.Matches(a.Labels) {
			return true
		}
	}
	return false
}

// Collect deletes silences that expired more than retention before now.
func (st *Store) Collect(ctx context.Context, now time.Time, retention time.Duration) (int, error) {
	st.mu.RLock()
	var old []string
	for id, c := range st.active {
		if c.s.EndsAt.Add(retention).Before(now) {
			old = append(old, id)
		}
	}
	st.mu.RUnlock()
	for _, id := range old {
		if err := st.kv.Purge(ctx, id); err != nil {
			return 0, err
		}
	}
	return len(old), nil
}
