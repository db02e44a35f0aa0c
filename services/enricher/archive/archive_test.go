package archive_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetlog/jetlog/libs/component"
	"github.com/jetlog/jetlog/libs/component/componenttest"
	"github.com/jetlog/jetlog/libs/config"
	"github.com/jetlog/jetlog/libs/host"
	"github.com/jetlog/jetlog/libs/host/hosttest"
	"github.com/jetlog/jetlog/libs/testkit"
	"github.com/jetlog/jetlog/libs/topology"
	"github.com/jetlog/jetlog/services/enricher/archive"
	"github.com/jetlog/jetlog/services/enricher/enrich"
)

// run starts a host with the given components on n, with sets applied.
func run(t *testing.T, n *testkit.NATS, fs []component.Factory, sets ...string) *host.Host {
	t.Helper()
	cfg := host.NewConfig(host.Options{Factories: fs})
	sets = append([]string{"nats.url=" + n.URL, "admin.enabled=false", "enricher.pipelines_dir="}, sets...)
	if err := cfg.Load(config.Source{Set: sets}); err != nil {
		t.Fatal(err)
	}
	return hosttest.Start(t, cfg)
}

func info(t *testing.T, n *testkit.NATS, stream string) *jetstream.StreamInfo {
	t.Helper()
	s, err := n.JS.Stream(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	i, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return i
}

func TestComponentConformance(t *testing.T) {
	componenttest.Run(t, componenttest.Case{Factory: archive.Factory()})
}

// Once the enricher and the archiver both processed an event, the backlog
// frees it and the archive keeps it, with what replay needs.
func TestArchiveKeepsHistoryWhileTheBacklogIsFreed(t *testing.T) {
	n := testkit.StartNATS(t)
	run(t, n, []component.Factory{enrich.Spec.Factory(), archive.Factory()})
	n.PublishMany(100, func(i int) (string, string, []byte) {
		return "logs.raw.web.app", fmt.Sprintf("id-%d", i), []byte(fmt.Sprintf(`{"msg":"request %d"}`, i))
	})
	testkit.Poll(t, time.Minute, func() (bool, string) {
		raw, arch := info(t, n, topology.RawStream).State.Msgs, info(t, n, topology.ArchiveStream).State.Msgs
		return raw == 0 && arch == 100, fmt.Sprintf("LOGS_RAW %d (want 0), LOGS_ARCHIVE %d (want 100)", raw, arch)
	})
	s, _ := n.JS.Stream(context.Background(), topology.ArchiveStream)
	m, err := s.GetMsg(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "archive.raw.web.app" || m.Header.Get(archive.HeaderRawMsgID) != "id-0" || m.Header.Get(archive.HeaderRawSeq) != "1" ||
		m.Header.Get(archive.HeaderRawTime) == "" || string(m.Data) != `{"msg":"request 0"}` {
		t.Errorf("archived message: subject %s, headers %v, data %s", m.Subject, m.Header, m.Data)
	}
}

// The archive is bounded on its own: beyond max_bytes the oldest events go,
// and the horizon says how far back replay can reach.
func TestArchiveEvictsItsOldestBeyondItsBound(t *testing.T) {
	n := testkit.StartNATS(t)
	h := run(t, n, []component.Factory{enrich.Spec.Factory(), archive.Factory()}, "streams.archive.max_bytes=1048576", "admin.enabled=true", "admin.listen=127.0.0.1:0")
	body := strings.Repeat("x", 8000)
	n.PublishMany(400, func(i int) (string, string, []byte) { // about 3 MiB
		return "logs.raw.web", fmt.Sprintf("id-%d", i), []byte(fmt.Sprintf(`{"msg":"%d %s"}`, i, body))
	})
	testkit.Poll(t, time.Minute, func() (bool, string) {
		raw := info(t, n, topology.RawStream).State.Msgs
		arch := info(t, n, topology.ArchiveStream).State
		return raw == 0 && arch.LastSeq == 400, fmt.Sprintf("LOGS_RAW %d, archive last sequence %d", raw, arch.LastSeq)
	})
	arch := info(t, n, topology.ArchiveStream).State
	if arch.Bytes > 1<<20 || arch.FirstSeq == 1 {
		t.Errorf("archive holds %d bytes from sequence %d: the oldest were not evicted at 1 MiB", arch.Bytes, arch.FirstSeq)
	}
	metrics := testkit.Scrape(t, h.AdminAddr())
	if v := testkit.SumMetric(metrics, "jetlog_stream_first_message_age_seconds", "stream="+topology.ArchiveStream); v <= 0 {
		t.Errorf("archive horizon metric = %v, want the age of its oldest event", v)
	}
}

// A NATS restart costs neither the backlog nor the archive anything. (A
// stream that sources an interest stream, the server's own way to copy one,
// emptied that stream's unprocessed backlog across a restart; the archiver
// is a durable consumer instead.)
func TestArchiveDoesNotCostTheBacklogAcrossARestart(t *testing.T) {
	n := testkit.StartNATS(t)
	run(t, n, []component.Factory{archive.Factory()})
	n.PublishMany(5000, func(i int) (string, string, []byte) {
		return "logs.raw.web", fmt.Sprintf("id-%d", i), []byte(fmt.Sprintf(`{"msg":"%d"}`, i))
	})
	testkit.Poll(t, time.Minute, func() (bool, string) {
		arch := info(t, n, topology.ArchiveStream).State.Msgs
		return arch == 5000, fmt.Sprintf("archive %d of 5000", arch)
	})
	n.Restart()
	testkit.Poll(t, 30*time.Second, func() (bool, string) {
		raw := info(t, n, topology.RawStream).State.Msgs
		return raw == 5000, fmt.Sprintf("LOGS_RAW holds %d events the enricher has not processed, want 5000", raw)
	})
	if arch := info(t, n, topology.ArchiveStream).State.Msgs; arch != 5000 {
		t.Errorf("archive holds %d events after the restart, want 5000", arch)
	}
}
