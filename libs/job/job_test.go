package job_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"go.uber.org/goleak"

	"github.com/jetlog/jetlog/libs/component"
	"github.com/jetlog/jetlog/libs/component/componenttest"
	"github.com/jetlog/jetlog/libs/job"
	"github.com/jetlog/jetlog/libs/testkit"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func start(t *testing.T, f job.Func, o job.Options) *job.Runner {
	t.Helper()
	r, err := job.New(f, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Stop(context.Background()) })
	return r
}

// waitRuns waits until the runner finished n runs.
func waitRuns(t *testing.T, r *job.Runner, n int) {
	t.Helper()
	testkit.Poll(t, 10*time.Second, func() (bool, string) {
		_, got := r.Last()
		return got >= n, fmt.Sprintf("%d of %d runs", got, n)
	})
}

func TestRunsEveryIntervalOnTheClock(t *testing.T) {
	clk := clockwork.NewFakeClock()
	var runs atomic.Int32
	r := start(t, func(context.Context) error { runs.Add(1); return nil }, job.Options{Name: "tick", Every: time.Minute, Clock: clk})
	for i := 1; i <= 3; i++ {
		if err := clk.BlockUntilContext(context.Background(), 1); err != nil {
			t.Fatal(err)
		}
		if got := runs.Load(); got != int32(i-1) {
			t.Fatalf("%d runs before the interval %d passed", got, i)
		}
		clk.Advance(time.Minute)
		waitRuns(t, r, i)
	}
}

func TestJitterDelaysButBoundsTheWait(t *testing.T) {
	clk := clockwork.NewFakeClock()
	r := start(t, func(context.Context) error { return nil }, job.Options{Name: "j", Every: time.Minute, Jitter: 30 * time.Second, Clock: clk})
	_ = clk.BlockUntilContext(context.Background(), 1)
	clk.Advance(90 * time.Second) // Every + Jitter: the run is due whatever the draw
	waitRuns(t, r, 1)
}

func TestRunsNeverOverlap(t *testing.T) {
	clk := clockwork.NewFakeClock()
	var inFlight, most atomic.Int32
	release := make(chan struct{})
	r := start(t, func(ctx context.Context) error {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		if n > most.Load() {
			most.Store(n)
		}
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	}, job.Options{Name: "slow", Every: time.Second, Timeout: time.Hour, Immediately: true, Clock: clk})
	testkit.Poll(t, 10*time.Second, func() (bool, string) { return inFlight.Load() == 1, "first run not started" })
	for range 5 { // five intervals pass while the first run goes on
		clk.Advance(time.Second)
		r.Trigger()
	}
	close(release)
	waitRuns(t, r, 2) // the delayed run comes after, not beside
	if m := most.Load(); m != 1 {
		t.Errorf("%d runs at once", m)
	}
}

func TestReadinessReportsTheLastRun(t *testing.T) {
	clk := clockwork.NewFakeClock()
	fail := atomic.Bool{}
	fail.Store(true)
	r := start(t, func(context.Context) error {
		if fail.Load() {
			return errors.New("opensearch: 503")
		}
		return nil
	}, job.Options{Name: "q", Every: time.Minute, Immediately: true, Clock: clk})
	waitRuns(t, r, 1)
	if err := r.Ready(context.Background()); err == nil || !strings.Contains(err.Error(), "opensearch: 503") {
		t.Fatalf("Ready after a failed run = %v", err)
	}
	fail.Store(false)
	_ = clk.BlockUntilContext(context.Background(), 1)
	clk.Advance(time.Minute)
	waitRuns(t, r, 2)
	if err := r.Ready(context.Background()); err != nil {
		t.Errorf("Ready after a good run = %v", err)
	}
}

func TestARunEndsAtItsTimeout(t *testing.T) {
	clk := clockwork.NewFakeClock()
	r := start(t, func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() },
		job.Options{Name: "t", Every: time.Hour, Timeout: 10 * time.Second, Immediately: true, Clock: clk})
	_ = clk.BlockUntilContext(context.Background(), 1) // the run's timeout timer
	clk.Advance(10 * time.Second)
	waitRuns(t, r, 1)
	if res, _ := r.Last(); !errors.Is(res.Err, context.DeadlineExceeded) {
		t.Errorf("run error %v, want its deadline", res.Err)
	}
}

func TestStopWaitsForTheRunAndIsIdempotent(t *testing.T) {
	r, _ := job.New(func(context.Context) error { return nil }, job.Options{Name: "s", Every: time.Second})
	for range 2 {
		if err := r.Stop(context.Background()); err != nil {
			t.Fatalf("Stop without Start: %v", err)
		}
	}
	var finished atomic.Bool
	started := make(chan struct{})
	r2, _ := job.New(func(ctx context.Context) error {
		close(started)
		<-ctx.Done()
		finished.Store(true)
		return nil
	}, job.Options{Name: "s2", Every: time.Hour, Immediately: true})
	_ = r2.Start(context.Background())
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := r2.Stop(ctx); err == nil {
		t.Error("Stop past its deadline reported no error")
	}
	if !finished.Load() {
		t.Error("Stop returned before the run did")
	}
	if err := r2.Stop(context.Background()); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestANewRunnerRefusesBadOptions(t *testing.T) {
	for _, o := range []job.Options{{Every: 0}, {Every: time.Second, Jitter: -1}} {
		if _, err := job.New(func(context.Context) error { return nil }, o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}

type cfg struct {
	Every time.Duration `yaml:"every"`
}

func (c *cfg) Validate() error {
	if c.Every <= 0 {
		return errors.New("every must be > 0")
	}
	return nil
}

// A job is a component like any other: it passes the conformance suite.
func TestSpecIsAComponent(t *testing.T) {
	var runs atomic.Int32
	spec := job.Spec[cfg]{
		Name: "nightly", Defaults: func() cfg { return cfg{Every: time.Hour} },
		Schedule: func(c *cfg) job.Options { return job.Options{Every: c.Every, Immediately: true} },
		New: func(context.Context, *component.Env, *cfg) (job.Func, error) {
			return func(context.Context) error { runs.Add(1); return nil }, nil
		},
	}
	if k := spec.Factory().Info().Kind; k != component.KindJob {
		t.Errorf("kind %q", k)
	}
	componenttest.Run(t, componenttest.Case{Factory: spec.Factory()})
	if runs.Load() == 0 {
		t.Error("the job never ran")
	}
}
