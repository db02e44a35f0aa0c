package worker

import (
	"math/rand/v2"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetlog/jetlog/libs/config"
)

// ConsumerConfig declares a worker's durable pull consumer and how it pulls.
type ConsumerConfig struct {
	// Stream is the stream to consume.
	Stream string `yaml:"stream"`
	// Durable is the consumer name; every copy of a worker shares it, so
	// they split the work. Defaults to the worker's name.
	Durable string `yaml:"durable"`
	// Subjects filters the stream; empty means all its subjects.
	Subjects []string `yaml:"subjects"`
	// Batch is the most messages handed to one handler call.
	Batch int `yaml:"batch"`
	// Linger is how long to wait for a batch to fill once its first message
	// is there; 0 takes what has arrived, which is right for low latency.
	Linger time.Duration `yaml:"linger"`
	// PullWait is how long one pull request waits on the server for messages.
	// Messages are handled as they arrive, so it does not add latency; it
	// bounds how long Stop waits for the last request to end.
	PullWait time.Duration `yaml:"pull_wait"`
	// Concurrency is how many batches are handled at once.
	Concurrency int `yaml:"concurrency"`
	// MaxAckPending bounds messages delivered and not yet acknowledged: the
	// backlog waits in the stream, not in memory. 0 means
	// Batch × Concurrency × 2.
	MaxAckPending int `yaml:"max_ack_pending"`
	// AckWait is how long the server waits for an ack before redelivering.
	// The runtime sends in-progress heartbeats while a batch is handled, so
	// a slow downstream does not cause redeliveries.
	AckWait time.Duration `yaml:"ack_wait"`
	// Retry governs redelivery of transient failures.
	Retry RetryPolicy `yaml:"retry"`
	// StallAfter is how long one batch may be in the handler before the
	// worker reports itself not ready (a downstream that neither answers
	// nor fails); the batch goes on meanwhile.
	StallAfter time.Duration `yaml:"stall_after"`
}

// RetryPolicy governs redelivery after a transient failure.
type RetryPolicy struct {
	// MaxDeliver is how many deliveries a message gets before it is
	// dead-lettered: after the handler failed on the last of them, or, when
	// it arrives a time more, because no delivery had an outcome (its
	// worker crashed or timed out each time); -1 retries forever (right
	// where failures are always transient, as for an indexer waiting on
	// OpenSearch). Failed publishes of a worker's outputs never count.
	MaxDeliver int `yaml:"max_deliver"`
	// Initial is the first negative-ack delay; it doubles per delivery.
	Initial time.Duration `yaml:"initial"`
	// Max caps the delay.
	Max time.Duration `yaml:"max"`
}

// DefaultConsumer returns the defaults every field falls back to.
func DefaultConsumer() ConsumerConfig {
	return ConsumerConfig{
		Batch: 500, Concurrency: 1, AckWait: 30 * time.Second, PullWait: time.Second, StallAfter: 5 * time.Minute,
		Retry: RetryPolicy{MaxDeliver: 10, Initial: 500 * time.Millisecond, Max: 2 * time.Minute},
	}
}

// Delay returns the redelivery delay after the given delivery: Initial ×
// 2^(n-1), capped at Max, with ±20 % jitter so a failed batch's messages do
// not all come back at the same instant.
func (p RetryPolicy) Delay(delivery uint64) time.Duration {
	d := p.Initial
	for i := uint64(1); i < delivery && d < p.Max; i++ {
		d *= 2
	}
	d = min(d, p.Max)
	jitter := time.Duration(float64(d) * 0.2 * (2*rand.Float64() - 1))
	return max(d+jitter, time.Millisecond)
}

// Validate checks the configuration.
func (c *ConsumerConfig) Validate() error {
	var errs config.Errors
	if c.Stream == "" {
		errs.Addf("stream", "is empty (name the stream to consume)")
	}
	if c.Batch < 1 || c.Batch > 10000 {
		errs.Addf("batch", "%d is outside 1..10000", c.Batch)
	}
	if c.Concurrency < 1 || c.Concurrency > 64 {
		errs.Addf("concurrency", "%d is outside 1..64", c.Concurrency)
	}
	if c.MaxAckPending != 0 && c.MaxAckPending < c.Batch*c.Concurrency {
		errs.Addf("max_ack_pending", "%d is below batch × concurrency = %d, so batches could never fill", c.MaxAckPending, c.Batch*c.Concurrency)
	}
	if c.AckWait < time.Second {
		errs.Addf("ack_wait", "%v is below 1s", c.AckWait)
	}
	if c.PullWait < 0 || (c.PullWait > 0 && c.PullWait < 10*time.Millisecond) || c.PullWait > 30*time.Second {
		errs.Addf("pull_wait", "%v is outside 10ms..30s", c.PullWait)
	}
	if c.Linger < 0 || c.Linger >= c.AckWait {
		errs.Addf("linger", "%v must be >= 0 and below ack_wait", c.Linger)
	}
	if c.Retry.MaxDeliver == 0 || c.Retry.MaxDeliver < -1 {
		errs.Addf("retry.max_deliver", "%d: use -1 (forever) or a positive count", c.Retry.MaxDeliver)
	}
	if c.StallAfter < c.AckWait {
		errs.Addf("stall_after", "%v is below ack_wait %v", c.StallAfter, c.AckWait)
	}
	if c.Retry.Initial <= 0 || c.Retry.Max < c.Retry.Initial {
		errs.Addf("retry.initial", "need 0 < initial (%v) <= max (%v)", c.Retry.Initial, c.Retry.Max)
	}
	return errs.Err()
}

func (c *ConsumerConfig) pullWait() time.Duration {
	if c.PullWait > 0 {
		return c.PullWait
	}
	return time.Second
}

func (c *ConsumerConfig) maxAckPending() int {
	if c.MaxAckPending > 0 {
		return c.MaxAckPending
	}
	return c.Batch * c.Concurrency * 2
}

// jetstream returns the server-side consumer configuration.
func (c *ConsumerConfig) jetstream(durable string) jetstream.ConsumerConfig {
	cc := jetstream.ConsumerConfig{
		Durable:       durable,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       c.AckWait,
		MaxAckPending: c.maxAckPending(),
		DeliverPolicy: jetstream.DeliverAllPolicy,
		// The server never gives up on a message: the runtime counts
		// deliveries itself and dead-letters (see Worker.handleDead), so a
		// message is never left unacknowledged in an interest stream,
		// holding its backlog, with only an advisory that may have had no
		// listener to say so.
		MaxDeliver: -1,
	}
	switch len(c.Subjects) {
	case 0:
	case 1:
		cc.FilterSubject = c.Subjects[0]
	default:
		cc.FilterSubjects = c.Subjects
	}
	return cc
}
