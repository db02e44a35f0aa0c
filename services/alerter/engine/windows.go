package engine

import (
	"math"
	"sort"
	"time"

	"github.com/jetlog/jetlog/services/alerter/rule"
)

// insert adds an event to the window in time order; it reports false for
// an event the window already holds (the same id at the same time).
func (k *Key) insert(r *rule.Rule, en Entry) bool {
	i := sort.Search(len(k.Events), func(i int) bool { return k.Events[i].T >= en.T })
	for j := i; j < len(k.Events) && k.Events[j].T == en.T; j++ {
		if k.Events[j].ID == en.ID {
			return false
		}
	}
	k.Events = append(k.Events, Entry{})
	copy(k.Events[i+1:], k.Events[i:])
	k.Events[i] = en
	return true
}

// trim keeps at most max_events events, evicting the oldest; it reports
// whether it evicted. It evicts a sixteenth more than it must, so a full
// window is compacted once every max_events/16 events, not on each.
func (k *Key) trim(r *rule.Rule) bool {
	if n := len(k.Events) - r.MaxEvents; n > 0 {
		n = min(n+r.MaxEvents/16, len(k.Events))
		k.Events = append(k.Events[:0], k.Events[n:]...)
		return true
	}
	return false
}

// horizon is the oldest event time any later judgement can need: a window
// ending at the judged time, or at the oldest event still on time.
func (k *Key) horizon(r *rule.Rule, at time.Time) time.Time {
	t := at
	if !k.Last.IsZero() {
		if onTime := k.Last.Add(-r.Lateness); onTime.Before(t) {
			t = onTime
		}
	}
	if r.Type == rule.TypeSpike {
		return t.Add(-2 * r.Window)
	}
	return t.Add(-r.Window)
}

// prune drops what no later judgement needs.
func (k *Key) prune(r *rule.Rule, at time.Time) {
	h := k.horizon(r, at).UnixNano()
	if i := sort.Search(len(k.Events), func(i int) bool { return k.Events[i].T > h }); i > 0 {
		k.Events = append(k.Events[:0], k.Events[i:]...)
	}
	for b := range k.Buckets {
		if b+int64(bucketSize(r)) <= h {
			delete(k.Buckets, b)
		}
	}
	if r.Type == rule.TypeCardinality {
		for v, t := range k.Values {
			if t <= h {
				delete(k.Values, v)
			}
		}
	}
}

// remember records a value (cardinality) or a term (new_term) seen at t;
// it reports whether it evicted the least recently seen one to stay within
// max_events.
func (k *Key) remember(r *rule.Rule, v string, t time.Time) bool {
	if k.Values == nil {
		k.Values = map[string]int64{}
	}
	n := t.UnixNano()
	if old, ok := k.Values[v]; ok {
		if n > old {
			k.Values[v] = n
		}
		return false
	}
	k.Values[v] = n
	if len(k.Values) <= r.MaxEvents {
		return false
	}
	var oldest string
	var ot int64 = math.MaxInt64
	for x, xt := range k.Values {
		if xt < ot {
			oldest, ot = x, xt
		}
	}
	delete(k.Values, oldest)
	return true
}

// window returns the events in (at − window, at].
func (k *Key) window(r *rule.Rule, at time.Time) []Entry {
	hi := at.UnixNano()
	lo := at.Add(-r.Window).UnixNano()
	i := sort.Search(len(k.Events), func(i int) bool { return k.Events[i].T > lo })
	j := sort.Search(len(k.Events), func(i int) bool { return k.Events[i].T > hi })
	return k.Events[i:j]
}

// bucketSize is a spike rule's counting resolution: a twentieth of the
// window, at least a second.
func bucketSize(r *rule.Rule) time.Duration { return max(r.Window/20, time.Second) }

func bucketOf(r *rule.Rule, t time.Time) int64 {
	return t.Truncate(bucketSize(r)).UnixNano()
}

// spikeCounts returns the counts of the window ending at at and of the
// window before it, at bucket resolution.
func (k *Key) spikeCounts(r *rule.Rule, at time.Time) (cur, ref int) {
	end := bucketOf(r, at)
	w := r.Window.Nanoseconds()
	for b, n := range k.Buckets {
		switch {
		case b > end-w && b <= end:
			cur += n
		case b > end-2*w && b <= end-w:
			ref += n
		}
	}
	return cur, ref
}

// holds judges a window rule's condition at at: whether it holds, the
// value it measured, and the ids of the window's first events.
func (e *Engine) holds(r *rule.Rule, k *Key, at time.Time) (bool, float64, []string) {
	switch r.Type {
	case rule.TypeFrequency:
		w := k.window(r, at)
		return float64(len(w)) >= r.Threshold, float64(len(w)), ids(w)
	case rule.TypeFlatline:
		w := k.window(r, at)
		// Only a window the alerter has watched whole can be too quiet.
		full := !at.Add(-r.Window).Before(k.Since)
		return full && float64(len(w)) < r.Threshold, float64(len(w)), nil
	case rule.TypeMetric:
		w := k.window(r, at)
		if len(w) == 0 {
			return false, 0, nil
		}
		if q, ok := quantiles[r.Agg]; ok && !r.Compare(percentileSide(w, q, r.Threshold)) {
			// The value is only reported when the condition holds; a
			// count tells whether it does without selecting it.
			return false, 0, nil
		}
		v := aggregate(r.Agg, w, &e.scratch)
		return r.Compare(v), v, ids(w)
	case rule.TypeCardinality:
		lo := at.Add(-r.Window).UnixNano()
		hi := at.UnixNano()
		n := 0
		for _, t := range k.Values {
			if t > lo && t <= hi {
				n++
			}
		}
		full := !at.Add(-r.Window).Before(k.Since)
		if (r.Op == "<" || r.Op == "<=") && !full {
			return false, float64(n), nil
		}
		return r.Compare(float64(n)), float64(n), nil
	case rule.TypeSpike:
		cur, ref := k.spikeCounts(r, at)
		if at.Add(-2 * r.Window).Before(k.Since) {
			return false, float64(cur), nil // no whole reference window yet
		}
		up := ref > 0 && cur >= r.Spike.MinCount && float64(cur) >= r.Spike.Ratio*float64(ref)
		down := ref >= r.Spike.MinCount && float64(cur)*r.Spike.Ratio <= float64(ref)
		switch r.Spike.Direction {
		case "up":
			return up, float64(cur), nil
		case "down":
			return down, float64(cur), nil
		}
		return up || down, float64(cur), nil
	}
	return false, 0, nil
}

func ids(w []Entry) []string {
	n := min(len(w), maxEventIDs)
	out := make([]string, 0, n)
	for _, en := range w[:n] {
		out = append(out, en.ID)
	}
	return out
}

// quantiles are the percentile aggregations and their rank.
var quantiles = map[string]float64{"p50": 0.50, "p90": 0.90, "p95": 0.95, "p99": 0.99}

// aggregate computes a metric over the window's values; scratch is reused
// between calls for the percentiles.
func aggregate(agg string, w []Entry, scratch *[]float64) float64 {
	switch agg {
	case "count":
		return float64(len(w))
	case "sum", "avg":
		s := 0.0
		for _, en := range w {
			s += en.V
		}
		if agg == "avg" {
			return s / float64(len(w))
		}
		return s
	case "min", "max":
		v := w[0].V
		for _, en := range w[1:] {
			if (agg == "min") == (en.V < v) {
				v = en.V
			}
		}
		return v
	}
	vs := (*scratch)[:0]
	for _, en := range w {
		vs = append(vs, en.V)
	}
	*scratch = vs
	// nearest rank, as OpenSearch's percentiles approximate it
	i := int(math.Ceil(quantiles[agg]*float64(len(vs)))) - 1
	return selectNth(vs, max(i, 0))
}

// percentileSide returns a value on the same side of t as the window's
// nearest-rank q-quantile (below, equal or above), from two counts: what
// any comparison with t makes of it, it makes of the quantile.
func percentileSide(w []Entry, q, t float64) float64 {
	rank := max(int(math.Ceil(q*float64(len(w)))), 1) // the quantile is the rank-th smallest
	below, atOrBelow := 0, 0
	for _, en := range w {
		if en.V < t {
			below++
		}
		if en.V <= t {
			atOrBelow++
		}
	}
	switch {
	case below >= rank:
		return math.Nextafter(t, math.Inf(-1))
	case atOrBelow >= rank:
		return t
	}
	return math.Nextafter(t, math.Inf(1))
}

// selectNth returns the value that would be at index n if vs were sorted,
// reordering vs. A rule is judged on every event, and sorting the whole
// window each time made a percentile rule cost O(n log n) per event; a
// selection is O(n) on average.
func selectNth(vs []float64, n int) float64 {
	lo, hi := 0, len(vs)-1
	for lo < hi {
		// median of three as the pivot, so sorted windows (the usual
		// case: values of a steady service) stay linear
		mid := lo + (hi-lo)/2
		if vs[mid] < vs[lo] {
			vs[mid], vs[lo] = vs[lo], vs[mid]
		}
		if vs[hi] < vs[lo] {
			vs[hi], vs[lo] = vs[lo], vs[hi]
		}
		if vs[hi] < vs[mid] {
			vs[hi], vs[mid] = vs[mid], vs[hi]
		}
		pivot := vs[mid]
		i, j := lo, hi
		for i <= j {
			for vs[i] < pivot {
				i++
			}
			for pivot < vs[j] {
				j--
			}
			if i <= j {
				vs[i], vs[j] = vs[j], vs[i]
				i++
				j--
			}
		}
		switch {
		case n <= j:
			hi = j
		case n >= i:
			lo = i
		default:
			return vs[n]
		}
	}
	return vs[n]
}

// maxRecent bounds the ids kept to recognise a redelivered hit.
const maxRecent = 1000

// seen reports whether the key applied an event id lately, and remembers
// it otherwise.
func (k *Key) seen(r *rule.Rule, id string) bool {
	if id == "" {
		return false
	}
	for _, x := range k.Recent {
		if x == id {
			return true
		}
	}
	if n := min(r.MaxEvents, maxRecent); len(k.Recent) >= n {
		k.Recent = append(k.Recent[:0], k.Recent[len(k.Recent)-n+1:]...)
	}
	k.Recent = append(k.Recent, id)
	return false
}
