package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jetlog/jetlog/libs/dlq"
)

// ErrDrop tells the runtime to acknowledge a message without output: the
// handler decided it is not wanted (a drop or sample rule). It is counted,
// never dead-lettered.
var ErrDrop = errors.New("dropped")

// ErrStopping ends a handler's wait for a downstream when its worker stops:
// the message is handed back at once (negative-acked) for another copy or
// the next start, and is not counted as failed.
var ErrStopping = errors.New("worker stopping")

// permanentError marks an error that no retry can fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as one that retrying cannot fix (malformed input, a
// mapping conflict): the message goes to the DLQ with err as the reason and
// the stream moves on. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err, or an error it wraps, was marked Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// retryAfterError asks for a redelivery after a given delay.
type retryAfterError struct {
	err   error
	delay time.Duration
}

func (e *retryAfterError) Error() string {
	return fmt.Sprintf("retry after %v: %v", e.delay, e.err)
}
func (e *retryAfterError) Unwrap() error { return e.err }

// RetryAfter asks for the message to be redelivered after d (the downstream
// said when, as with HTTP 429 Retry-After). It is never dead-lettered for
// being retried.
func RetryAfter(d time.Duration, err error) error {
	if err == nil {
		err = errors.New("retry requested")
	}
	return &retryAfterError{err: err, delay: d}
}

// action is what the runtime does with a message once its handler is done.
type action int

const (
	actAck        action = iota // done: acknowledge
	actDrop                     // not wanted: acknowledge and count
	actDeadLetter               // poison: publish to the DLQ, then terminate
	actRetry                    // transient: negative-ack with a delay
	actShutdown                 // the worker is stopping: negative-ack at once
)

// decision is the one table that maps a handler's result onto JetStream.
type decision struct {
	act    action
	delay  time.Duration
	kind   string // DLQ kind for actDeadLetter
	reason string
}

// classify decides what to do with a message from its handler's error, its
// delivery count and whether the worker is stopping.
func classify(err error, deliveries uint64, retry RetryPolicy, stopping bool) decision {
	var ra *retryAfterError
	var dead *deadError
	switch {
	case err == nil:
		return decision{act: actAck}
	case errors.As(err, &dead):
		return decision{act: actDeadLetter, kind: dead.kind, reason: dead.reason}
	case errors.Is(err, ErrDrop):
		return decision{act: actDrop}
	case IsPermanent(err):
		return decision{act: actDeadLetter, kind: kindOf(err), reason: err.Error()}
	case errors.Is(err, ErrStopping), stopping && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)):
		return decision{act: actShutdown}
	case errors.As(err, &ra):
		return decision{act: actRetry, delay: ra.delay}
	case retry.MaxDeliver > 0 && deliveries >= uint64(retry.MaxDeliver):
		return decision{act: actDeadLetter, kind: dlq.KindMaxDeliver,
			reason: fmt.Sprintf("failed on all %d deliveries, last error: %v", deliveries, err)}
	}
	return decision{act: actRetry, delay: retry.Delay(deliveries)}
}

// panicError is a recovered handler panic; it is permanent for its message.
type panicError struct{ value any }

func (e *panicError) Error() string { return fmt.Sprintf("handler panicked: %v", e.value) }

func kindOf(err error) string {
	var p *panicError
	if errors.As(err, &p) {
		return dlq.KindPanic
	}
	return dlq.KindPermanent
}
