// Package job runs work on a schedule inside a jetlog component: scheduled
// queries, retention, reports. A Runner calls a function every interval,
// with jitter so that copies of a process do not all run at the same
// instant, never two runs at once (a run that outlasts the interval delays
// the next one instead of overlapping it), each run bounded by a timeout,
// and reports the last run's error as readiness.
//
// A Runner keeps the component lifecycle contract (package component):
// Start returns at once, Stop waits for the run in flight and is idempotent
// and safe without Start. Spec makes a job a component of its own, of the
// "job" kind.
package job

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
)

// Func is one run of a job. Its context ends at the run's timeout or when
// the runner stops.
type Func func(ctx context.Context) error

// Options configure a Runner.
type Options struct {
	// Name labels the job in logs and errors.
	Name string
	// Every is the interval between the starts of two runs (> 0).
	Every time.Duration
	// Jitter is the largest random delay added to each wait, so copies of
	// a process spread their runs (0: none).
	Jitter time.Duration
	// Timeout bounds one run (default Every).
	Timeout time.Duration
	// Immediately makes the first run start at Start (after jitter)
	// instead of one interval later.
	Immediately bool
	// Clock is the time source (default the real clock); tests pass a
	// clockwork.FakeClock.
	Clock clockwork.Clock
	// Logger logs failed runs (default slog.Default()).
	Logger *slog.Logger
}

// Result describes one run.
type Result struct {
	Start, End time.Time
	Err        error
}

// Runner runs a Func on a schedule.
type Runner struct {
	o   Options
	f   Func
	now chan struct{}

	mu      sync.Mutex
	started bool
	stopped bool
	running time.Time // start of the run in flight, zero when idle
	last    Result
	runs    int
	cancel  context.CancelFunc
	stop    chan struct{} // closed by Stop
	done    chan struct{} // closed when the loop returns
}

// New returns a runner of f; it does nothing until Start.
func New(f Func, o Options) (*Runner, error) {
	if f == nil {
		return nil, errors.New("job: nil function")
	}
	if o.Every <= 0 {
		return nil, fmt.Errorf("job %s: every must be > 0, got %v", o.Name, o.Every)
	}
	if o.Jitter < 0 {
		return nil, fmt.Errorf("job %s: jitter must be >= 0, got %v", o.Name, o.Jitter)
	}
	if o.Timeout <= 0 {
		o.Timeout = o.Every
	}
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Runner{o: o, f: f, now: make(chan struct{}, 1)}, nil
}

// Start begins the schedule and returns.
func (r *Runner) Start(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started {
		return fmt.Errorf("job %s: already started", r.o.Name)
	}
	r.started = true
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.stop, r.done = cancel, make(chan struct{}), make(chan struct{})
	go r.loop(ctx)
	return nil
}

// Stop ends the schedule and waits for the run in flight; when ctx ends
// first, the run's context is canceled and Stop still waits for it to
// return. It is idempotent and safe without Start.
func (r *Runner) Stop(ctx context.Context) error {
	r.mu.Lock()
	if !r.started || r.stopped {
		r.mu.Unlock()
		return nil
	}
	r.stopped = true
	close(r.stop)
	done := r.done
	r.mu.Unlock()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		r.cancel()
		<-done
		return fmt.Errorf("job %s: stop: %w", r.o.Name, ctx.Err())
	}
}

// Trigger asks for a run now (after the run in flight, if any); triggers
// made while one is already pending are merged.
func (r *Runner) Trigger() {
	select {
	case r.now <- struct{}{}:
	default:
	}
}

// Last returns the last finished run and how many runs finished.
func (r *Runner) Last() (Result, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last, r.runs
}

// Ready reports the last run's error, or a run stuck past its timeout; nil
// before the first run.
func (r *Runner) Ready(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.running.IsZero() {
		if d := r.o.Clock.Since(r.running); d > r.o.Timeout+time.Second {
			return fmt.Errorf("job %s: a run has been going for %v, past its timeout %v", r.o.Name, d.Round(time.Second), r.o.Timeout)
		}
	}
	if r.last.Err != nil {
		return fmt.Errorf("job %s: last run at %s failed: %w", r.o.Name, r.last.Start.UTC().Format(time.RFC3339), r.last.Err)
	}
	return nil
}

func (r *Runner) loop(ctx context.Context) {
	defer close(r.done)
	first := true
	for {
		wait := r.o.Every
		if first && r.o.Immediately {
			wait = 0
		}
		first = false
		if r.o.Jitter > 0 {
			wait += rand.N(r.o.Jitter)
		}
		t := r.o.Clock.NewTimer(wait)
		select {
		case <-t.Chan():
		case <-r.now:
		case <-r.stop:
			t.Stop()
			return
		}
		t.Stop()
		select {
		case <-r.stop:
			return
		default:
		}
		r.run(ctx)
	}
}

// run makes one run, bounded by the timeout.
func (r *Runner) run(ctx context.Context) {
	start := r.o.Clock.Now()
	r.mu.Lock()
	r.running = start
	r.mu.Unlock()
	rctx, cancel := clockwork.WithTimeout(ctx, r.o.Clock, r.o.Timeout)
	err := r.safe(rctx)
	cancel()
	res := Result{Start: start, End: r.o.Clock.Now(), Err: err}
	r.mu.Lock()
	prev := r.last.Err
	r.running, r.last = time.Time{}, res
	r.runs++
	r.mu.Unlock()
	switch {
	case err != nil:
		r.o.Logger.Warn("job run failed", "job", r.o.Name, "err", err, "took", res.End.Sub(start))
	case prev != nil:
		r.o.Logger.Info("job run succeeded again", "job", r.o.Name)
	}
}

func (r *Runner) safe(ctx context.Context) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("job panicked: %v", v)
		}
	}()
	return r.f(ctx)
}
