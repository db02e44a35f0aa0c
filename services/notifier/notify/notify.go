package notify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/jetlog/jetlog/libs/alert"
	"github.com/jetlog/jetlog/services/notifier/delivery"
	"github.com/jetlog/jetlog/services/notifier/egress"
)

// Notification is one message to one integration of a receiver: a group's
// alerts at one flush.
type Notification struct {
	// ID is stable across retries and restarts (see package nflog).
	ID          string
	Receiver    string
	Integration string
	GroupKey    string
	GroupLabels map[string]string
	// Alerts are firing and, when the integration sends them, resolved
	// alerts, sorted by fingerprint.
	Alerts []*alert.Alert
	// Truncated counts alerts left out by max_alerts.
	Truncated int
	// At is when the notification was decided.
	At time.Time
	// GroupInterval and RepeatInterval are the group's route's timings.
	GroupInterval, RepeatInterval time.Duration
}

// Integration delivers notifications to one destination (a webhook, a
// Slack channel, an Alertmanager, a mailbox, a NATS subject).
type Integration interface {
	// Kind names the integration type (webhook, slack, alertmanager,
	// email, nats).
	Kind() string
	// Target describes the destination for the delivery log, without
	// secrets.
	Target() string
	// SendResolved says whether resolved alerts are sent.
	SendResolved() bool
	// MaxAlerts bounds the alerts of one notification (0: no bound).
	MaxAlerts() int
	// Send makes one attempt. Errors are classified by Classify.
	Send(ctx context.Context, n *Notification) error
}

// HTTPError is a receiver's answer other than 2xx.
type HTTPError struct {
	Status int
	// Body is the start of the answer's body.
	Body string
	// RetryAfter is the receiver's Retry-After, if any.
	RetryAfter time.Duration
}

func (e *HTTPError) Error() string {
	msg := fmt.Sprintf("the receiver answered %d %s", e.Status, http.StatusText(e.Status))
	if b := strings.TrimSpace(e.Body); b != "" {
		msg += ": " + b
	}
	return msg
}

// permanentError marks an error no retry can fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying (a bad template, a body the
// receiver can never take).
func Permanent(err error) error { return &permanentError{err: err} }

// Class is what to do after a failed attempt.
type Class struct {
	// Retry says another attempt may succeed.
	Retry bool
	// After is the wait the receiver asked for (Retry-After), or 0.
	After time.Duration
	// Reason is a short, bounded name for metrics.
	Reason string
}

// Classify is the one table of what a failed attempt means: timeouts,
// connection failures, 5xx, 408 and 429 (with its Retry-After) are worth
// another attempt; other 4xx, refused addresses, redirects and marked
// permanent errors are not.
func Classify(err error) Class {
	var he *HTTPError
	var pe *permanentError
	var te *textproto.Error
	var ne net.Error
	switch {
	case errors.Is(err, egress.ErrBlocked):
		return Class{Reason: "blocked_address"}
	case errors.Is(err, egress.ErrRedirect):
		return Class{Reason: "redirect"}
	case errors.As(err, &pe):
		return Class{Reason: "permanent"}
	case errors.As(err, &he):
		switch {
		case he.Status == http.StatusRequestTimeout:
			return Class{Retry: true, Reason: "http_408"}
		case he.Status == http.StatusTooManyRequests:
			return Class{Retry: true, After: he.RetryAfter, Reason: "http_429"}
		case he.Status >= 500:
			return Class{Retry: true, After: he.RetryAfter, Reason: "http_5xx"}
		}
		return Class{Reason: "http_4xx"}
	case errors.As(err, &te):
		if te.Code >= 400 && te.Code < 500 {
			return Class{Retry: true, Reason: "smtp_4xx"}
		}
		return Class{Reason: "smtp_5xx"}
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return Class{Retry: true, Reason: "timeout"}
	}
	return Class{Retry: true, Reason: "error"}
}

// retryAfter parses a Retry-After header: seconds or an HTTP date.
func retryAfter(h string, now time.Time) time.Duration {
	if h == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(h)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// RetryConfig bounds the attempts of one notification.
type RetryConfig struct {
	// Initial is the wait after the first failed attempt; it doubles
	// (±20 % jitter) up to Max.
	Initial time.Duration `yaml:"initial"`
	Max     time.Duration `yaml:"max"`
	// MaxElapsed ends the attempts when the next wait would pass it; the
	// notification is then tried again at the group's next flush, with the
	// same id.
	MaxElapsed time.Duration `yaml:"max_elapsed"`
}

// Recorder receives the delivery record of each attempt.
type Recorder func(r *delivery.Record)

// deliver sends n with retries, recording every attempt, and returns nil
// once the receiver accepted it. The loop says which attempt failed and
// why, waits with exponential backoff (or the receiver's Retry-After), and
// stops when the next wait would pass the budget or ctx ends.
func deliver(ctx context.Context, integ Integration, n *Notification, rc RetryConfig, record Recorder, m *metrics) error {
	b := &backoff.ExponentialBackOff{InitialInterval: rc.Initial, RandomizationFactor: 0.2, Multiplier: 2, MaxInterval: rc.Max}
	b.Reset()
	start := time.Now()
	rec := delivery.Record{ID: n.ID, Receiver: n.Receiver, Integration: n.Integration, Target: integ.Target(), GroupKey: n.GroupKey, Status: "resolved"}
	for _, a := range n.Alerts {
		rec.Fingerprints = append(rec.Fingerprints, a.Fingerprint)
		if a.State == alert.StateResolved {
			rec.Resolved++
		} else {
			rec.Firing++
			rec.Status = "firing"
		}
	}
	for attempt := 1; ; attempt++ {
		at := time.Now()
		err := integ.Send(ctx, n)
		r := rec
		r.Attempt, r.At, r.Duration = attempt, at, time.Since(at)
		m.latency.WithLabelValues(integ.Kind()).Observe(r.Duration.Seconds())
		if err == nil {
			r.Outcome = delivery.OutcomeDelivered
			record(&r)
			m.attempts.WithLabelValues(integ.Kind(), "delivered", "").Inc()
			return nil
		}
		c := Classify(err)
		var he *HTTPError
		if errors.As(err, &he) {
			r.HTTPStatus = he.Status
		}
		r.Error = err.Error()
		wait := b.NextBackOff()
		if c.After > wait {
			wait = c.After
		}
		if !c.Retry || time.Since(start)+wait > rc.MaxElapsed || ctx.Err() != nil {
			r.Outcome = delivery.OutcomeFailed
			if c.Retry {
				r.Error = fmt.Sprintf("%s (gave up after %d attempts in %v: the next wait of %v would pass retry.max_elapsed %v; tried again at the group's next flush)",
					r.Error, attempt, time.Since(start).Round(time.Millisecond), wait.Round(time.Millisecond), rc.MaxElapsed)
			}
			record(&r)
			m.attempts.WithLabelValues(integ.Kind(), "failed", c.Reason).Inc()
			return err
		}
		r.Outcome, r.RetryIn = delivery.OutcomeRetrying, wait
		record(&r)
		m.attempts.WithLabelValues(integ.Kind(), "retrying", c.Reason).Inc()
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}
