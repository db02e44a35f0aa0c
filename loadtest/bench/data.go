package bench

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"
)

// RawEvent is one synthetic log line and the source it is shipped under.
type RawEvent struct {
	Source string
	Data   []byte
	ID     string
}

var (
	paths  = []string{"/", "/cart", "/checkout?step=2", "/api/v1/orders/8812", "/static/app.3f9a.js", "/login", "/search?q=shoes"}
	agents = []string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
		"curl/8.5.0",
	}
	statuses = []int{200, 200, 200, 200, 200, 301, 304, 404, 500, 503}
	levels   = []string{"info", "info", "info", "debug", "warn", "error"}
)

// Generate makes n realistic raw events: a third nginx access lines, a third
// JSON application logs (some with secrets to redact), a third syslog, each
// around 300–500 bytes, deterministic for a seed.
func Generate(n int, seed uint64) []RawEvent {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	base := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	out := make([]RawEvent, n)
	for i := range out {
		ts := base.Add(time.Duration(i) * 10 * time.Millisecond)
		var ev RawEvent
		switch i % 3 {
		case 0:
			ev.Source = "nginx.edge"
			ev.Data = fmt.Appendf(nil, `%d.%d.%d.%d - - [%s] "GET %s HTTP/1.1" %d %d "https://shop.example/" "%s"`,
				r.IntN(223)+1, r.IntN(256), r.IntN(256), r.IntN(256), ts.Format("02/Jan/2006:15:04:05 -0700"),
				paths[r.IntN(len(paths))], statuses[r.IntN(len(statuses))], r.IntN(50000), agents[r.IntN(len(agents))])
		case 1:
			ev.Source = "app.payments.checkout"
			msg := fmt.Sprintf("charge %d processed for customer %d in region eu-west-1", r.IntN(1e6), r.IntN(1e5))
			if r.IntN(10) == 0 {
				msg = fmt.Sprintf("card 4111 1111 1111 1111 declined for user%d@example.com", r.IntN(1e4))
			}
			ev.Data, _ = json.Marshal(map[string]any{
				"time": ts.Format(time.RFC3339Nano), "level": levels[r.IntN(len(levels))], "message": msg,
				"order_id": r.IntN(1e7), "duration_ms": fmt.Sprintf("%.2f", r.Float64()*300), "trace_id": fmt.Sprintf("%032x", r.Uint64()),
				"http": map[string]any{"method": "POST", "route": "/api/v1/charges", "status": statuses[r.IntN(len(statuses))]},
			})
		default:
			ev.Source = "syslog.paris"
			ev.Data = fmt.Appendf(nil, `<%d>1 %s web-%d.example.com billing %d ID%d [meta@32473 region="eu" zone="%c"] invoice %d sent to the mail queue after %d retries`,
				8+r.IntN(8), ts.Format(time.RFC3339Nano), r.IntN(20), r.IntN(30000), r.IntN(100), 'a'+rune(r.IntN(3)), r.IntN(1e6), r.IntN(4))
		}
		ev.ID = fmt.Sprintf("bench-%d", i)
		out[i] = ev
	}
	return out
}
