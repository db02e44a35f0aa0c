package engine

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// The selection agrees with sorting the window, for every rank, on the
// shapes a window takes: random, sorted, reversed, constant, few values.
func TestSelectNthAgreesWithSorting(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	shapes := map[string]func(i, n int) float64{
		"random":   func(int, int) float64 { return rng.Float64() * 1000 },
		"sorted":   func(i, _ int) float64 { return float64(i) },
		"reversed": func(i, n int) float64 { return float64(n - i) },
		"constant": func(int, int) float64 { return 42 },
		"few":      func(int, int) float64 { return float64(rng.IntN(3)) },
		"inf":      func(i, _ int) float64 { return []float64{math.Inf(1), -1, math.Inf(-1), 7}[i%4] },
	}
	for name, gen := range shapes {
		for _, n := range []int{1, 2, 3, 5, 17, 100, 2000} {
			vs := make([]float64, n)
			for i := range vs {
				vs[i] = gen(i, n)
			}
			sorted := slices.Sorted(slices.Values(vs))
			for k := range n {
				if got := selectNth(slices.Clone(vs), k); got != sorted[k] {
					t.Fatalf("%s n=%d: rank %d = %v, want %v", name, n, k, got, sorted[k])
				}
			}
		}
	}
}

func TestPercentilesAreNearestRank(t *testing.T) {
	var w []Entry
	for i := 100; i >= 1; i-- { // 1..100, in reverse
		w = append(w, Entry{V: float64(i)})
	}
	var scratch []float64
	for agg, want := range map[string]float64{"p50": 50, "p90": 90, "p95": 95, "p99": 99, "min": 1, "max": 100, "sum": 5050, "avg": 50.5, "count": 100} {
		if got := aggregate(agg, w, &scratch); got != want {
			t.Errorf("%s = %v, want %v", agg, got, want)
		}
	}
	if w[0].V != 100 {
		t.Errorf("the window itself was reordered")
	}
}

// Whether a percentile crosses a threshold is decided by counting; it must
// agree with comparing the selected value, for every op, at thresholds
// below, on and above the window's values.
func TestPercentileSideAgreesWithTheValue(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var scratch []float64
	for range 300 {
		n := 1 + rng.IntN(60)
		w := make([]Entry, n)
		for i := range w {
			w[i].V = float64(rng.IntN(10))
		}
		for agg, q := range quantiles {
			v := aggregate(agg, w, &scratch)
			for _, th := range []float64{-1, 0, 3, 4.5, 9, 10, v} {
				side := percentileSide(w, q, th)
				for _, cmp := range []func(a, b float64) bool{
					func(a, b float64) bool { return a > b }, func(a, b float64) bool { return a >= b },
					func(a, b float64) bool { return a < b }, func(a, b float64) bool { return a <= b },
				} {
					if cmp(side, th) != cmp(v, th) {
						t.Fatalf("%s of %v = %v; threshold %v: the count put it at %v", agg, w, v, th, side)
					}
				}
			}
		}
	}
}
