package forward_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/jetlog/jetlog/services/gateway/forward"
	"github.com/jetlog/jetlog/services/gateway/ingest"
)

// printSink stands in for the gateway's *ingest.Publisher: it prints each
// record and reports it stored.
type printSink struct{}

func (printSink) Limits() ingest.Limits { return ingest.DefaultLimits() }

func (printSink) Publish(_ context.Context, protocol string, recs []ingest.Record) []error {
	for _, r := range recs {
		fmt.Printf("%s %s %s %v\n", protocol, r.Source, r.Time.Format(time.RFC3339), r.Fields)
	}
	return make([]error, len(recs))
}

// A client sends one record in Message mode and asks for an ack; the
// server answers once the sink has stored it.
func Example() {
	cfg := forward.DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	srv, err := forward.New(cfg, printSink{}, nil, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		panic(err)
	}
	if err := srv.Start(); err != nil {
		panic(err)
	}
	defer srv.Stop(context.Background())

	conn, err := net.Dial("tcp", srv.Addr().String())
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	msg, _ := msgpack.Marshal([]any{"app.web", 1764064800, map[string]any{"message": "hello"}, map[string]any{"chunk": "id-1"}})
	_, _ = conn.Write(msg)
	var ack map[string]string
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := msgpack.NewDecoder(conn).Decode(&ack); err != nil {
		panic(err)
	}
	fmt.Println(ack)
	// Output:
	// forward app.web 2025-11-25T10:00:00Z map[message:hello]
	// map[ack:id-1]
}
