package pipeline

import (
	"testing"
	"time"

	"github.com/jetlog/jetlog/libs/event"
)

// shippedLines are lines of each kind the shipped pipelines take, as the
// load-test producer makes them.
var shippedLines = []struct{ name, source, body string }{
	{"nginx", "nginx.edge", `203.0.113.9 - - [24/Nov/2026:00:00:01 +0000] "GET /checkout?step=2 HTTP/1.1" 200 18231 "https://shop.example/" "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"`},
	{"nginx not an access line", "nginx.edge", `2026/11/24 00:00:01 [error] 1234#1234: *5 open() "/usr/share/nginx/html/favicon.ico" failed (2: No such file or directory), client: 203.0.113.9, server: shop.example, request: "GET /favicon.ico HTTP/1.1", host: "shop.example"`},
	{"syslog 5424", "syslog.paris", `<14>1 2026-11-24T00:00:01.23Z web-7.example.com billing 21733 ID42 [meta@32473 region="eu" zone="b"] invoice 731190 sent to the mail queue after 2 retries`},
	{"syslog 3164", "syslog.paris", `<38>Nov 24 00:00:01 web-7 sshd[4821]: Accepted publickey for deploy from 203.0.113.9 port 52144 ssh2: ED25519 SHA256:Jx0hG1ICB5c4nDd0S2eYbY0Fh2Zx3l6F9qkT0mV9A2s`},
	{"app json", "app.payments.checkout", `{"duration_ms":"212.07","http":{"method":"POST","route":"/api/v1/charges","status":200},"level":"info","message":"charge 118826 processed for customer 48213 in region eu-west-1","order_id":5571930,"time":"2026-11-24T00:00:01.23Z","trace_id":"0000000000000000a3ce929d0e0e4736"}`},
}

// BenchmarkShippedPipelines runs the pipeline of pipelines/ that takes each
// kind of line, without decoding or encoding: what the stages cost per event.
func BenchmarkShippedPipelines(b *testing.B) {
	set, err := LoadDir("../../../pipelines", Options{})
	if err != nil {
		b.Fatal(err)
	}
	ts := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	for _, l := range shippedLines {
		b.Run(l.name, func(b *testing.B) {
			probe := &event.Event{ID: "e", Source: l.source, Body: l.body, Timestamp: ts}
			p := set.Select(probe)
			if p == nil {
				b.Fatalf("no pipeline takes source %s", l.source)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(l.body)))
			for b.Loop() {
				ev := &event.Event{ID: "e", Source: l.source, Body: l.body, Timestamp: ts, ObservedTimestamp: ts}
				if err := p.Process(ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkParseStages compares, on the same line, a dedicated parsing stage
// with the grok stage (and, for access lines, the timestamp stage) it
// replaces in the shipped pipelines.
func BenchmarkParseStages(b *testing.B) {
	ts := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	for _, bc := range []struct{ name, stages, body string }{
		{"access_log", `[{access_log: {}}]`, shippedLines[0].body},
		{"grok and timestamp", `[{grok: {patterns: ['%{COMBINEDAPACHELOG}']}}, {timestamp: {field: attributes.timestamp, formats: [apache]}}]`, shippedLines[0].body},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p, err := Compile("bench.yaml", []byte("stages: "+bc.stages+"\n"), Options{})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.body)))
			for b.Loop() {
				ev := &event.Event{ID: "e", Body: bc.body, Timestamp: ts}
				if _, err := p.Run(ev); err != nil || ev.Error != nil {
					b.Fatal(err, ev.Error)
				}
			}
		})
	}
}
