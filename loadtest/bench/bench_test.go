package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jetlog/jetlog/services/gateway/forward"
	"github.com/jetlog/jetlog/services/gateway/ingest"
)

// recordingSink is the forward server's sink in these tests: it keeps
// every record and reports it stored.
type recordingSink struct {
	mu   sync.Mutex
	recs []ingest.Record
}

func (s *recordingSink) Limits() ingest.Limits { return ingest.DefaultLimits() }

func (s *recordingSink) Publish(_ context.Context, _ string, recs []ingest.Record) []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recs = append(s.recs, recs...)
	return make([]error, len(recs))
}

// TestTheShipperSendsWhatFluentBitSends: every line of every mix reaches
// the gateway's real forward server once, as the tail input's record
// ({"log": line}) with the line's time and the mix's tag, and every chunk
// is acknowledged; chunks stay within Fluent Bit's 2 MB.
func TestTheShipperSendsWhatFluentBitSends(t *testing.T) {
	for i, m := range Mixes {
		t.Run(string(m), func(t *testing.T) {
			lines := Lines(m, 20000, uint64(i))
			chunks, err := ForwardChunks(m.Source(), lines, "test")
			if err != nil {
				t.Fatal(err)
			}
			if len(chunks) < 2 {
				t.Fatalf("%d chunks for %d lines: the test wants several", len(chunks), len(lines))
			}
			for _, c := range chunks {
				if len(c.Data) > chunkBytes+1024 {
					t.Errorf("chunk %s is %d bytes, more than a Fluent Bit chunk", c.ID, len(c.Data))
				}
			}
			sink := &recordingSink{}
			cfg := forward.DefaultConfig()
			cfg.Listen = "127.0.0.1:0"
			srv, err := forward.New(cfg, sink, nil, slog.New(slog.DiscardHandler), nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := srv.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = srv.Stop(context.Background()) })
			res, err := Ship(context.Background(), srv.Addr().String(), chunks)
			if err != nil {
				t.Fatal(err)
			}
			if res.Records != len(lines) || len(sink.recs) != len(lines) {
				t.Fatalf("acked %d records, the server got %d, sent %d", res.Records, len(sink.recs), len(lines))
			}
			seen := map[string]bool{}
			for _, r := range sink.recs {
				if r.Source != m.Source() {
					t.Fatalf("source %q, want %q", r.Source, m.Source())
				}
				seen[r.Fields["log"].(string)+"|"+r.Time.UTC().Format(time.RFC3339Nano)] = true
			}
			for _, l := range lines {
				if !seen[string(l.Data)+"|"+l.Time.UTC().Format(time.RFC3339Nano)] {
					t.Fatalf("line %q at %v never arrived as sent", l.Data, l.Time)
				}
			}
		})
	}
}

// TestMixesAreDeterministicAndWhatThePipelinesExpect: a seed gives the same
// lines every time, and each mix has the shape its pipeline parses.
func TestMixesAreDeterministicAndWhatThePipelinesExpect(t *testing.T) {
	for _, m := range Mixes {
		a, b := Lines(m, 200, 7), Lines(m, 200, 7)
		for i := range a {
			if !bytes.Equal(a[i].Data, b[i].Data) || !a[i].Time.Equal(b[i].Time) {
				t.Fatalf("%s line %d differs between two runs with one seed", m, i)
			}
		}
		for _, l := range a {
			s := string(l.Data)
			var ok bool
			switch m {
			case MixJSON:
				ok = json.Valid(l.Data) && strings.HasPrefix(s, "{")
			case MixAccess:
				ok = strings.Contains(s, `] "`) && strings.Contains(s, ` HTTP/1.1" `)
			case MixSyslog:
				ok = strings.HasPrefix(s, "<")
			}
			if !ok {
				t.Fatalf("%s line does not look like one: %s", m, s)
			}
		}
	}
}

// TestBulkDocIsWhatFluentBitsOpenSearchOutputWrites: the line under "log",
// the time under "@timestamp" in its default format.
func TestBulkDocIsWhatFluentBitsOpenSearchOutputWrites(t *testing.T) {
	l := Line{Time: time.Date(2026, 11, 24, 1, 2, 3, 456789000, time.UTC), Data: []byte(`{"a":"b"}`)}
	var doc map[string]string
	if err := json.Unmarshal(bulkDoc(l), &doc); err != nil {
		t.Fatal(err)
	}
	if doc["log"] != `{"a":"b"}` || doc["@timestamp"] != "2026-11-24T01:02:03.456Z" || len(doc) != 2 {
		t.Errorf("document %v", doc)
	}
}

// TestProcCPUCountsThisProcess: CPU time read from /proc grows as this
// process works, and agrees with getrusage to within the clock tick.
func TestProcCPUCountsThisProcess(t *testing.T) {
	before, err := procCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	self := SelfCPU()
	x := 0
	for SelfCPU()-self < 300*time.Millisecond {
		for i := range 1_000_000 {
			x += i
		}
	}
	after, err := procCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	got, want := after-before, SelfCPU()-self
	if got < want-50*time.Millisecond || got > want+50*time.Millisecond {
		t.Errorf("/proc says %v of CPU, getrusage %v (x=%d)", got, want, x)
	}
}

// TestMedian of odd and even counts.
func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

// TestParseBench reads go test's output, custom metrics included, and
// keeps each benchmark's medians.
func TestParseBench(t *testing.T) {
	out := []byte(`goos: linux
BenchmarkIndexer/json-2   	   33837	     36948 ns/op	     14597 cpu-ns/op	    5027 B/op	      23 allocs/op
BenchmarkIndexer/json-2   	   30000	     30000 ns/op	     14000 cpu-ns/op	    5000 B/op	      23 allocs/op
BenchmarkIndexer/json-2   	   30000	     40000 ns/op	     15000 cpu-ns/op	    5100 B/op	      23 allocs/op
BenchmarkGatewayPublish/access-2	  203000	      8916 ns/op	    3758 B/op	      27 allocs/op
PASS
`)
	got := parseBench(out)
	if len(got) != 2 || got[0].Name != "BenchmarkIndexer/json" || got[1].Name != "BenchmarkGatewayPublish/access" {
		t.Fatalf("parsed %+v", got)
	}
	if x := got[0]; x.NsPerEvent != 36948 || x.CPUNsPerEvent != 14597 || x.BytesPerEvt != 5027 || x.AllocsPerEvt != 23 || len(x.NsRuns) != 3 {
		t.Errorf("medians %+v", x)
	}
	if x := got[1]; x.NsPerEvent != 8916 || x.CPUNsPerEvent != 0 || x.AllocsPerEvt != 27 {
		t.Errorf("second benchmark %+v", x)
	}
}

// TestProfileTotalBytes reads pprof's total in its units.
func TestProfileTotalBytes(t *testing.T) {
	for top, want := range map[string]float64{
		"Showing nodes accounting for 2.54GB, 70.82% of 3.58GB total":     3.58 * (1 << 30),
		"Showing nodes accounting for 172.05MB, 94.81% of 181.48MB total": 181.48 * (1 << 20),
		"no total here": 0,
	} {
		if got := profileTotalBytes(top); got != want {
			t.Errorf("%q: %v, want %v", top, got, want)
		}
	}
}
