package alerting

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetlog/jetlog/libs/alert"
	"github.com/jetlog/jetlog/services/alerter/engine"
	"github.com/jetlog/jetlog/services/alerter/rule"
)

// errLost ends a partition whose state another copy has written since: it
// no longer owns it.
var errLost = errors.New("partition taken over by another copy of the alerter")

// partition evaluates the groups of one partition: it applies their hits
// in order, judges timers, publishes the transitions, and checkpoints its
// state to alert_state before acknowledging the hits it applied.
type partition struct {
	a    *Alerter
	p    int
	cons jetstream.Consumer

	mu      sync.Mutex // guards eng and everything below it
	eng     *engine.Engine
	pending []jetstream.Msg          // applied, not yet acknowledged
	msgs    []*nats.Msg              // alert events published since the checkpoint
	futs    []jetstream.PubAckFuture // and their acknowledgements
	ledger  map[string]*alert.Alert  // open alerts' last events (nil: resolved)
	err     error

	revs   map[string]uint64 // alert_state key → revision last written (checkpoint goroutine)
	cancel context.CancelFunc
	done   chan struct{}
}

// startPartition loads a partition's state and starts evaluating it.
func (a *Alerter) startPartition(ctx context.Context, p int) (*partition, error) {
	cons, err := a.js.Consumer(ctx, HitsStream, PartitionDurable(p))
	if err != nil {
		return nil, fmt.Errorf("partition %d: consumer: %w", p, err)
	}
	pt := &partition{a: a, p: p, cons: cons, revs: map[string]uint64{}, ledger: map[string]*alert.Alert{}}
	pt.eng = engine.New(engine.Options{Origin: alert.OriginStream, Count: a.m.count,
		Owns: func(key string) bool { return Partition(key, a.cfg.Partitions) == p }})
	now := a.Now()
	pt.publish(pt.eng.SetRules(a.rules.Load().set.Rules, now))
	if err := pt.load(ctx); err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(context.Background())
	pt.cancel, pt.done = cancel, make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); pt.consume(rctx) }()
	go func() { defer wg.Done(); pt.clock(rctx) }()
	go func() { defer wg.Done(); pt.seed(rctx) }()
	go func() { wg.Wait(); close(pt.done) }()
	a.mu.Lock()
	a.parts[p] = pt
	a.m.owned.Set(float64(len(a.parts)))
	a.mu.Unlock()
	return pt, nil
}

// load reads the partition's keys from alert_state.
func (pt *partition) load(ctx context.Context) error {
	w, err := pt.a.state.WatchFiltered(ctx, []string{partitionFilter(pt.p)}, jetstream.IgnoreDeletes())
	if err != nil {
		return fmt.Errorf("partition %d: read state: %w", pt.p, err)
	}
	defer func() { _ = w.Stop() }()
	n := 0
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e, ok := <-w.Updates():
			if !ok || e == nil {
				pt.a.log.Debug("partition loaded", "partition", pt.p, "keys", n)
				return nil
			}
			var k engine.Key
			if err := json.Unmarshal(e.Value(), &k); err != nil {
				pt.a.log.Warn("unreadable alert state dropped", "key", e.Key(), "err", err)
				pt.revs[e.Key()] = e.Revision()
				continue
			}
			pt.revs[e.Key()] = e.Revision()
			pt.eng.Load(keyOf(e.Key()), &k)
			n++
		}
	}
}

func (pt *partition) setRules(rules []*rule.Rule) {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	pt.publish(pt.eng.SetRules(rules, pt.a.Now()))
}

// publish sends transitions at once; their acknowledgements are awaited at
// the checkpoint. Called with mu held.
func (pt *partition) publish(as []alert.Alert) {
	for _, al := range as {
		nm, f := pt.a.publishAlert(al)
		pt.msgs, pt.futs = append(pt.msgs, nm), append(pt.futs, f)
		if al.State == alert.StateResolved {
			pt.ledger[al.Fingerprint] = nil
		} else {
			c := al
			pt.ledger[al.Fingerprint] = &c
		}
	}
}

// consume applies the partition's hits as they arrive.
func (pt *partition) consume(ctx context.Context) {
	failures := 0
	for ctx.Err() == nil {
		mb, err := pt.cons.Fetch(500, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			failures++
			if failures == 1 || failures%100 == 0 {
				pt.a.log.Warn("partition pull failed; retrying", "partition", pt.p, "err", err)
			}
			select {
			case <-ctx.Done():
			case <-time.After(min(time.Duration(failures)*100*time.Millisecond, 2*time.Second)):
			}
			continue
		}
		failures = 0
		for raw := range mb.Messages() {
			if ctx.Err() != nil {
				_ = raw.Nak()
				continue
			}
			pt.apply(raw)
		}
	}
}

func (pt *partition) apply(raw jetstream.Msg) {
	hs, err := engine.DecodeHits(raw.Data())
	if err != nil {
		pt.a.log.Warn("unreadable hits dropped", "partition", pt.p, "readable", len(hs), "err", err)
		if len(hs) == 0 {
			_ = raw.Term()
			return
		}
	}
	var seq uint64
	if md, err := raw.Metadata(); err == nil {
		seq = md.Sequence.Stream
	}
	pt.mu.Lock()
	for _, h := range hs {
		pt.publish(pt.eng.Apply(h, seq))
	}
	pt.pending = append(pt.pending, raw)
	pt.mu.Unlock()
}

// clock judges timers every tick and checkpoints every checkpoint interval.
func (pt *partition) clock(ctx context.Context) {
	tick := time.NewTicker(pt.a.cfg.Tick)
	defer tick.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		pt.mu.Lock()
		pt.publish(pt.eng.Tick(pt.a.Now()))
		pt.mu.Unlock()
		if time.Since(last) >= pt.a.cfg.CheckpointInterval {
			last = time.Now()
			if err := pt.checkpoint(ctx); err != nil {
				if errors.Is(err, errLost) {
					pt.a.log.Warn("partition lost", "partition", pt.p, "err", err)
					go pt.a.owner.lose(pt.p)
					return
				}
				if ctx.Err() == nil {
					pt.a.log.Warn("partition checkpoint failed; retrying", "partition", pt.p, "err", err)
				}
			}
		}
	}
}

func (pt *partition) lastErr() error {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	return pt.err
}

// checkpoint makes what the partition applied durable, in this order: the
// alert events it published are stored, its changed state is written
// (compare-and-set on each key's revision), the open-alert ledger is
// updated, and only then are the applied hits acknowledged. A crash at any
// point redelivers hits that the restored state has not seen (or has: the
// sequence in each key says so), and a transition raised again carries the
// same message id.
func (pt *partition) checkpoint(ctx context.Context) error {
	pt.mu.Lock()
	changed, deleted := pt.eng.Dirty()
	blobs := make(map[string][]byte, len(changed))
	for id, k := range changed {
		b, err := json.Marshal(k)
		if err != nil {
			pt.mu.Unlock()
			return err
		}
		blobs[id] = b
	}
	acks, msgs, futs, ledger := pt.pending, pt.msgs, pt.futs, pt.ledger
	pt.pending, pt.msgs, pt.futs, pt.ledger = nil, nil, nil, map[string]*alert.Alert{}
	pt.mu.Unlock()

	err := pt.write(ctx, msgs, futs, blobs, deleted, ledger)
	pt.mu.Lock()
	pt.err = err
	if err != nil && !errors.Is(err, errLost) {
		// Keep what is not durable for the next checkpoint: the keys are
		// written again (they are dirty once more), the hits stay held.
		for id := range blobs {
			pt.eng.Touch(id)
		}
		pt.eng.Forget(deleted)
		pt.pending = append(acks, pt.pending...)
		for fp, al := range ledger {
			if _, newer := pt.ledger[fp]; !newer {
				pt.ledger[fp] = al
			}
		}
		pt.mu.Unlock()
		return err
	}
	pt.mu.Unlock()
	if err != nil {
		return err
	}
	for _, m := range acks {
		_ = m.Ack()
	}
	return nil
}

func (pt *partition) write(ctx context.Context, msgs []*nats.Msg, futs []jetstream.PubAckFuture, blobs map[string][]byte, deleted []string, ledger map[string]*alert.Alert) error {
	if err := pt.a.confirm(ctx, msgs, futs); err != nil {
		return err
	}
	kv := pt.a.state
	for id, b := range blobs {
		key := stateKey(pt.p, id)
		rev, ok := pt.revs[key]
		var err error
		var nrev uint64
		if ok && rev > 0 {
			nrev, err = kv.Update(ctx, key, b, rev)
		} else {
			nrev, err = kv.Create(ctx, key, b)
		}
		if err != nil {
			if errors.Is(err, jetstream.ErrKeyExists) || isWrongRevision(err) {
				return fmt.Errorf("%w: %s changed under it (%v)", errLost, key, err)
			}
			return fmt.Errorf("write %s: %w", key, err)
		}
		pt.revs[key] = nrev
	}
	for _, id := range deleted {
		key := stateKey(pt.p, id)
		rev := pt.revs[key]
		if rev == 0 {
			continue
		}
		if err := kv.Delete(ctx, key, jetstream.LastRevision(rev)); err != nil && !isNotFound(err) {
			if isWrongRevision(err) {
				return fmt.Errorf("%w: %s changed under it (%v)", errLost, key, err)
			}
			return fmt.Errorf("delete %s: %w", key, err)
		}
		delete(pt.revs, key)
	}
	for fp, al := range ledger {
		var err error
		if al == nil {
			err = kv.Delete(ctx, LedgerKey(fp))
		} else {
			b, _ := json.Marshal(al)
			_, err = kv.Put(ctx, LedgerKey(fp), b)
		}
		if err != nil && !isNotFound(err) {
			return fmt.Errorf("write %s: %w", LedgerKey(fp), err)
		}
	}
	return nil
}

// isWrongRevision reports a compare-and-set that lost.
func isWrongRevision(err error) bool {
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// stop ends the partition. With flush it writes a last checkpoint (a
// graceful hand-over); without, what it applied since the last one comes
// back to the next owner. Hits fetched and not applied are handed back.
func (pt *partition) stop(ctx context.Context, flush bool) {
	pt.cancel()
	<-pt.done
	if flush {
		if err := pt.checkpoint(ctx); err != nil {
			pt.a.log.Warn("partition's last checkpoint failed; its next owner applies the hits again", "partition", pt.p, "err", err)
		}
	}
	pt.mu.Lock()
	for _, m := range pt.pending {
		_ = m.Nak()
	}
	pt.pending = nil
	pt.mu.Unlock()
	pt.a.mu.Lock()
	delete(pt.a.parts, pt.p)
	pt.a.m.owned.Set(float64(len(pt.a.parts)))
	pt.a.mu.Unlock()
}
