// Package archive is the archiver stage: it copies every raw event from the
// raw backlog (LOGS_RAW) into the archive (LOGS_ARCHIVE, subject
// archive.raw.<source>), which keeps history for replay within its own
// bounds while the backlog frees what every stage has processed.
//
// A copy keeps the raw bytes and headers, plus the two facts replay needs
// to give the same event the same id again: the original Nats-Msg-Id
// (Jetlog-Raw-Msg-Id) and when LOGS_RAW stored it (Jetlog-Raw-Time), with
// its raw stream sequence (Jetlog-Raw-Seq). A copy carries no Nats-Msg-Id:
// the server would keep every id of its de-duplication window in memory
// for a stream only replay reads, and a copy made twice (the archiver
// crashed between storing it and acknowledging the original) replays into
// the same event ids.
package archive

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/jetlog/jetlog/libs/component"
	"github.com/jetlog/jetlog/libs/topology"
	"github.com/jetlog/jetlog/libs/worker"
)

// Headers of an archived event.
const (
	HeaderRawMsgID = "Jetlog-Raw-Msg-Id"
	HeaderRawTime  = "Jetlog-Raw-Time"
	HeaderRawSeq   = "Jetlog-Raw-Seq"
)

// Config is the archiver's own configuration (it has none beyond its
// consumer; the archive's bounds are streams.archive).
type Config struct{}

// Spec is the archiver worker. It runs where the enricher runs (jetlog run,
// the enricher binary) when streams.archive.enabled is true.
var Spec = worker.Spec[Config]{
	Name:      "archiver",
	AdminPort: 9468,
	Consumer: worker.ConsumerConfig{
		Stream: topology.RawStream, Durable: topology.ArchiverDurable, Subjects: []string{topology.RawSubjects},
		Batch: 1000, Concurrency: 1,
		// Archiving fails only when JetStream does; never dead-letter.
		Retry: worker.RetryPolicy{MaxDeliver: -1, Initial: time.Second, Max: 15 * time.Second},
	},
	Writes: []string{topology.ArchiveStream},
	New: func(_ context.Context, env *worker.Env, _ *Config) (worker.BatchHandler, error) {
		return env.Forward(Copy), nil
	},
}

// Copy returns the archive copy of a raw message.
func Copy(m *worker.Msg) ([]*nats.Msg, error) {
	h := nats.Header{}
	for k, v := range m.Header {
		if !strings.HasPrefix(k, "Nats-") {
			h[k] = v
		}
	}
	if id := m.MsgID(); id != "" {
		h.Set(HeaderRawMsgID, id)
	}
	h.Set(HeaderRawTime, m.Time.UTC().Format(time.RFC3339Nano))
	h.Set(HeaderRawSeq, strconv.FormatUint(m.Sequence, 10))
	return []*nats.Msg{{Subject: topology.ArchivePrefix + strings.TrimPrefix(m.Subject, topology.RawPrefix), Data: m.Data, Header: h}}, nil
}

// Factory returns the archiver as a component. With the archive disabled
// (streams.archive.enabled: false) it idles and makes no consumer, since a
// consumer nobody needs would hold the raw backlog.
func Factory() component.Factory { return optional{Spec.Factory()} }

type optional struct{ component.Factory }

func (o optional) Build(ctx context.Context, env *component.Env, cfg any) (component.Component, error) {
	if !env.Streams.Archive.Enabled {
		env.Logger.Info("archive disabled (streams.archive.enabled: false): the archiver idles")
		return idle{}, nil
	}
	return o.Factory.Build(ctx, env, cfg)
}

type idle struct{}

func (idle) Start(context.Context) error { return nil }
func (idle) Stop(context.Context) error  { return nil }
