package gateway_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jetlog/jetlog/libs/testkit"
	"github.com/jetlog/jetlog/services/gateway/gateway"
)

// TestBusyRefusalsAreCounted: while one request holds the whole body
// budget, others are refused with 429 and Retry-After, and each refusal
// counts in jetlog_gateway_requests_total{result="retry"} under its
// protocol (http, bulk, otlp), as the handlers' own refusals do.
func TestBusyRefusalsAreCounted(t *testing.T) {
	n := testkit.StartNATS(t)
	nc, _ := n.Connect()
	reg := prometheus.NewRegistry()
	cfg := gateway.Defaults()
	cfg.HTTP.Listen, cfg.Forward.Enabled = "127.0.0.1:0", false
	cfg.Limits.MaxRequestBytes = 1 << 20
	cfg.HTTP.MaxBodyBytesInFlight = 1 << 20
	cfg.QueueTimeout = time.Second // room for the holding request to be read first on a loaded machine
	gw, err := gateway.New(cfg, nc, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = gw.Stop(context.Background()) })

	// A request announcing the whole budget, whose body never comes: it
	// holds the budget until its connection closes.
	hold, err := net.Dial("tcp", gw.HTTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Close()
	fmt.Fprintf(hold, "POST /v1/ingest/app HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n", 1<<20)

	refused := map[string]int{}
	for protocol, path := range map[string]string{"http": "/v1/ingest/app", "bulk": "/_bulk", "otlp": "/v1/logs"} {
		testkit.Poll(t, 10*time.Second, func() (bool, string) {
			resp, err := http.Post("http://"+gw.HTTPAddr()+path, "application/json", strings.NewReader(`{}`))
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusTooManyRequests {
				return false, fmt.Sprintf("%s answered %d while the budget is held", path, resp.StatusCode)
			}
			if resp.Header.Get("Retry-After") == "" {
				t.Errorf("%s: 429 without Retry-After", path)
			}
			refused[protocol]++
			return true, ""
		})
	}
	for protocol, want := range refused {
		if got := metric(t, reg, "jetlog_gateway_requests_total", "protocol", protocol, "result", "retry"); got != float64(want) {
			t.Errorf("jetlog_gateway_requests_total{protocol=%q,result=\"retry\"} = %v, want %d", protocol, got, want)
		}
	}
}
