package bench

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"
)

// RawEvent is one message to publish straight into JetStream: its source,
// bytes and id.
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
	methods  = []string{"GET", "GET", "GET", "POST", "PUT"}
	hosts    = []string{"web-1.example.com", "web-2.example.com", "db-1.example.com", "mail-1.example.com"}
)

// base is the time of the first generated line: every mix's lines fall on
// one day, so each run writes one daily index per dataset.
var base = time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)

// Mix is one family of log lines a user ships: what the shipped pipelines
// are written for.
type Mix string

// The mixes of the end-to-end comparison.
const (
	// MixJSON is JSON application logs (one in ten with a card number and
	// an email to redact), shipped as app.shop.web: pipelines/app.yaml.
	MixJSON Mix = "json"
	// MixAccess is nginx access lines in the combined log format, shipped
	// as nginx.edge: pipelines/nginx.yaml.
	MixAccess Mix = "access"
	// MixSyslog is syslog lines, three in four RFC 5424 and one in four
	// RFC 3164, shipped as syslog.paris: pipelines/syslog.yaml.
	MixSyslog Mix = "syslog"
)

// Mixes lists every mix in the order they are measured.
var Mixes = []Mix{MixJSON, MixAccess, MixSyslog}

// Source is the tag a shipper gives the mix's lines (Fluent Bit's tail
// input tag), which jetlog makes the event source.
func (m Mix) Source() string {
	switch m {
	case MixJSON:
		return "app.shop.web"
	case MixAccess:
		return "nginx.edge"
	default:
		return "syslog.paris"
	}
}

// Line is one log line as a shipper reads it from a file, with the time it
// read it.
type Line struct {
	Time time.Time
	Data []byte
}

// Lines makes n lines of a mix, deterministic for a seed, 10 ms apart.
func Lines(m Mix, n int, seed uint64) []Line {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	out := make([]Line, n)
	for i := range out {
		ts := base.Add(time.Duration(i) * 10 * time.Millisecond)
		var data []byte
		switch m {
		case MixJSON:
			data = appLine(r, ts)
		case MixAccess:
			data = accessLine(r, ts)
		default:
			data = syslogLine(r, ts, r.IntN(4) == 0)
		}
		out[i] = Line{Time: ts, Data: data}
	}
	return out
}

func accessLine(r *rand.Rand, ts time.Time) []byte {
	return fmt.Appendf(nil, `%d.%d.%d.%d - - [%s] "%s %s HTTP/1.1" %d %d "https://shop.example/" "%s"`,
		r.IntN(223)+1, r.IntN(256), r.IntN(256), r.IntN(256), ts.Format("02/Jan/2006:15:04:05 -0700"),
		methods[r.IntN(len(methods))], paths[r.IntN(len(paths))], statuses[r.IntN(len(statuses))], r.IntN(50000), agents[r.IntN(len(agents))])
}

func appLine(r *rand.Rand, ts time.Time) []byte {
	msg := fmt.Sprintf("charge %d processed for customer %d in region eu-west-1", r.IntN(1e6), r.IntN(1e5))
	if r.IntN(10) == 0 {
		msg = fmt.Sprintf("card 4111 1111 1111 1111 declined for user%d@example.com", r.IntN(1e4))
	}
	b, _ := json.Marshal(map[string]any{
		"time": ts.Format(time.RFC3339Nano), "level": levels[r.IntN(len(levels))], "message": msg,
		"order_id": r.IntN(1e7), "duration_ms": fmt.Sprintf("%.2f", r.Float64()*300), "trace_id": fmt.Sprintf("%032x", r.Uint64()),
		"http": map[string]any{"method": "POST", "route": "/api/v1/charges", "status": statuses[r.IntN(len(statuses))]},
	})
	return b
}

func syslogLine(r *rand.Rand, ts time.Time, rfc3164 bool) []byte {
	if rfc3164 {
		return fmt.Appendf(nil, `<%d>%s %s sshd[%d]: Accepted publickey for deploy from 10.0.%d.%d port %d ssh2`,
			32+r.IntN(8), ts.Format(time.Stamp), hosts[r.IntN(len(hosts))], r.IntN(30000), r.IntN(256), r.IntN(256), 1024+r.IntN(60000))
	}
	return fmt.Appendf(nil, `<%d>1 %s %s billing %d ID%d [meta@32473 region="eu" zone="%c"] invoice %d sent to the mail queue after %d retries`,
		8+r.IntN(8), ts.Format(time.RFC3339Nano), hosts[r.IntN(len(hosts))], r.IntN(30000), r.IntN(100), 'a'+rune(r.IntN(3)), r.IntN(1e6), r.IntN(4))
}
