package alerting

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// owner holds this copy's partitions: it renews its membership and its
// leases in the leases bucket, computes which partitions it should own
// (rendezvous hashing over the live members, so every copy computes the
// same assignment and a change of members moves few partitions), takes
// the partitions that are free or whose owner stopped renewing, and hands
// back those another copy should own.
//
// Liveness is judged without comparing clocks: a member or a lease is
// stale when this copy has seen no new revision of it for lease_ttl, on
// its own monotonic clock. A copy that cannot renew for half of lease_ttl
// gives its partitions up before anyone may take them.
type owner struct {
	a   *Alerter
	kv  jetstream.KeyValue
	ttl time.Duration

	mu        sync.Mutex
	seen      map[string]seenEntry
	owned     map[int]uint64 // partition → lease revision
	lastRenew time.Time
	stopping  bool
	cancel    context.CancelFunc
	wg        sync.WaitGroup
}

type seenEntry struct {
	rev uint64
	val string
	at  time.Time
}

func newOwner(a *Alerter, kv jetstream.KeyValue) *owner {
	return &owner{a: a, kv: kv, ttl: a.cfg.LeaseTTL, seen: map[string]seenEntry{}, owned: map[int]uint64{}}
}

func (o *owner) start(ctx context.Context, _ *sync.WaitGroup) {
	ctx, o.cancel = context.WithCancel(ctx)
	ready := make(chan struct{})
	o.wg.Add(2)
	go func() { defer o.wg.Done(); o.watch(ctx, ready) }()
	go func() {
		defer o.wg.Done()
		select {
		case <-ready:
		case <-ctx.Done():
			return
		}
		t := time.NewTicker(o.ttl / 4)
		defer t.Stop()
		for {
			o.step(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// watch keeps the view of the leases bucket current.
func (o *owner) watch(ctx context.Context, ready chan struct{}) {
	once := sync.OnceFunc(func() { close(ready) })
	defer once()
	watchKV(ctx, o.a.log, "the partition leases", func() (jetstream.KeyWatcher, error) { return o.kv.WatchAll(ctx) },
		func(e jetstream.KeyValueEntry) {
			if e == nil {
				once()
				return
			}
			o.mu.Lock()
			defer o.mu.Unlock()
			if e.Operation() != jetstream.KeyValuePut {
				delete(o.seen, e.Key())
				return
			}
			if old, ok := o.seen[e.Key()]; !ok || old.rev != e.Revision() {
				o.seen[e.Key()] = seenEntry{rev: e.Revision(), val: string(e.Value()), at: time.Now()}
			}
		})
}

// members returns the live members, this copy included, sorted.
func (o *owner) members() []string {
	me := o.a.id
	out := []string{me}
	for k, s := range o.seen {
		id, ok := strings.CutPrefix(k, "member.")
		if ok && id != me && time.Since(s.at) < o.ttl {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// assigned returns the member that should own partition p.
func assigned(members []string, p int) string {
	var best string
	var top uint64
	for _, m := range members {
		// A cryptographic hash: FNV's scores for names that differ in one
		// byte keep the same order for every partition.
		sum := sha256.Sum256([]byte(m + "\x00" + strconv.Itoa(p)))
		if s := binary.BigEndian.Uint64(sum[:8]); best == "" || s > top {
			best, top = m, s
		}
	}
	return best
}

// step renews, takes and hands back partitions.
func (o *owner) step(ctx context.Context) {
	me := o.a.id
	if _, err := o.kv.Put(ctx, memberKey(me), []byte(me)); err != nil {
		o.mu.Lock()
		stale := !o.lastRenew.IsZero() && time.Since(o.lastRenew) > o.ttl/2
		o.mu.Unlock()
		if stale {
			o.a.log.Warn("cannot renew membership for half the lease: giving the partitions up", "err", err)
			o.dropAll(ctx, false)
		}
		return
	}
	o.mu.Lock()
	if o.stopping {
		o.mu.Unlock()
		return
	}
	o.lastRenew = time.Now()
	members := o.members()
	type lease struct {
		rev   uint64
		owner string
		stale bool
		found bool
	}
	leases := make([]lease, o.a.cfg.Partitions)
	for p := range leases {
		if s, ok := o.seen[leaseKey(p)]; ok {
			leases[p] = lease{rev: s.rev, owner: s.val, stale: time.Since(s.at) >= o.ttl, found: true}
		}
	}
	owned := make(map[int]uint64, len(o.owned))
	for p, r := range o.owned {
		owned[p] = r
	}
	o.mu.Unlock()

	for p := range o.a.cfg.Partitions {
		want := assigned(members, p) == me
		rev, mine := owned[p]
		switch {
		case mine && !want:
			o.release(ctx, p, rev)
		case mine:
			nrev, err := o.kv.Update(ctx, leaseKey(p), []byte(me), rev)
			if err != nil {
				o.a.log.Warn("partition lease lost", "partition", p, "err", err)
				o.lose(p)
				continue
			}
			o.setOwned(p, nrev)
		case want:
			l := leases[p]
			var nrev uint64
			var err error
			switch {
			case !l.found:
				nrev, err = o.kv.Create(ctx, leaseKey(p), []byte(me))
			case l.owner == me || l.stale:
				nrev, err = o.kv.Update(ctx, leaseKey(p), []byte(me), l.rev)
			default:
				continue // its owner hands it over when it sees the new assignment
			}
			if err != nil {
				continue // another copy was faster; the next step looks again
			}
			o.acquire(ctx, p, nrev, l.owner)
		}
	}
}

func (o *owner) setOwned(p int, rev uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, ok := o.owned[p]; ok {
		o.owned[p] = rev
	}
}

func (o *owner) acquire(ctx context.Context, p int, rev uint64, from string) {
	if _, err := o.a.startPartition(ctx, p); err != nil {
		o.a.log.Warn("cannot start a partition; handing its lease back", "partition", p, "err", err)
		_ = o.kv.Delete(ctx, leaseKey(p), jetstream.LastRevision(rev))
		return
	}
	o.mu.Lock()
	o.owned[p] = rev
	o.mu.Unlock()
	o.a.log.Info("partition taken", "partition", p, "from", from)
	if o.a.sched != nil {
		o.a.sched.refresh()
	}
}

// release hands a partition over gracefully: its state is written and its
// hits acknowledged before the lease is deleted.
func (o *owner) release(ctx context.Context, p int, rev uint64) {
	o.a.mu.Lock()
	pt := o.a.parts[p]
	o.a.mu.Unlock()
	if pt != nil {
		pt.stop(ctx, true)
	}
	o.mu.Lock()
	delete(o.owned, p)
	o.mu.Unlock()
	_ = o.kv.Delete(ctx, leaseKey(p), jetstream.LastRevision(rev))
	o.a.log.Info("partition handed over", "partition", p)
	if o.a.sched != nil {
		o.a.sched.refresh()
	}
}

// lose stops a partition this copy no longer owns, without writing.
func (o *owner) lose(p int) {
	o.mu.Lock()
	_, ok := o.owned[p]
	delete(o.owned, p)
	o.mu.Unlock()
	if !ok {
		return
	}
	o.a.mu.Lock()
	pt := o.a.parts[p]
	o.a.mu.Unlock()
	if pt != nil {
		pt.stop(context.Background(), false)
	}
	if o.a.sched != nil {
		o.a.sched.refresh()
	}
}

func (o *owner) dropAll(ctx context.Context, flush bool) {
	o.mu.Lock()
	owned := o.owned
	o.owned = map[int]uint64{}
	o.mu.Unlock()
	for p, rev := range owned {
		o.a.mu.Lock()
		pt := o.a.parts[p]
		o.a.mu.Unlock()
		if pt != nil {
			pt.stop(ctx, flush)
		}
		if flush {
			_ = o.kv.Delete(ctx, leaseKey(p), jetstream.LastRevision(rev))
		}
	}
}

// owns reports whether this copy owns partition p.
func (o *owner) owns(p int) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	_, ok := o.owned[p]
	return ok
}

// stop hands every partition back and leaves the membership.
func (o *owner) stop(ctx context.Context) {
	o.mu.Lock()
	o.stopping = true
	o.mu.Unlock()
	o.cancel()
	o.wg.Wait()
	o.dropAll(ctx, true)
	_ = o.kv.Delete(ctx, memberKey(o.a.id))
}
