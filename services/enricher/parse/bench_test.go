package parse

import (
	"strings"
	"testing"
	"time"

	"github.com/leodido/go-syslog/v4/rfc3164"
	"github.com/leodido/go-syslog/v4/rfc5424"
)

// Realistic lines of about 300 bytes.
const (
	benchJSON       = `{"ts":"2024-05-01T12:00:00.123Z","level":"info","service":"checkout","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","msg":"order placed","user":{"id":48213,"tier":"gold"},"cart":{"items":3,"total":129.95,"currency":"EUR"},"http":{"method":"POST","path":"/api/v1/orders","status":201,"duration_ms":48.2}}`
	benchLogfmt     = `ts=2024-05-01T12:00:00.123Z level=info service=checkout trace_id=4bf92f3577b34da6a3ce929d0e0e4736 msg="order placed" user_id=48213 tier=gold items=3 total=129.95 currency=EUR method=POST path=/api/v1/orders status=201 duration_ms=48.2 remote=203.0.113.9 ua="Mozilla/5.0 (X11; Linux x86_64)" cached`
	benchSyslog5424 = `<165>1 2024-05-01T12:00:00.123456Z web-01.example.com checkout 48213 ORDER [meta@32473 trace="4bf92f3577b34da6a3ce929d0e0e4736" tier="gold"][http@32473 method="POST" status="201"] order placed for user 48213: 3 items, total 129.95 EUR, path /api/v1/orders, took 48.2 ms, remote 203.0.113.9`
	benchRedact     = `2024-05-01T12:00:00Z checkout user=alice.smith@example.com remote=203.0.113.9 card="4111 1111 1111 1111" auth="Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0ODIxMyJ9.dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk" order=98765432101 msg="payment accepted" total=129.95 currency=EUR path=/api/v1/orders status=201`
)

func BenchmarkJSON(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchJSON)))
	for b.Loop() {
		if _, err := JSON(benchJSON, 0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLogfmt(b *testing.B) {
	for _, bc := range []struct {
		name  string
		parse func(string) (map[string]any, error)
	}{{"hand-written", Logfmt}, {"go-logfmt", logfmtReference}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(benchLogfmt)))
			for b.Loop() {
				if _, err := bc.parse(benchLogfmt); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkKV(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchLogfmt)))
	for b.Loop() {
		if m := KV(benchLogfmt, "", ""); len(m) != 16 {
			b.Fatalf("%d pairs", len(m))
		}
	}
}

// The lines the shipped pipelines take, and lines that are not theirs.
const (
	benchAccess     = `203.0.113.9 - - [24/Nov/2026:00:00:01 +0000] "GET /checkout?step=2 HTTP/1.1" 200 18231 "https://shop.example/" "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"`
	benchNginxError = `2026/11/24 00:00:01 [error] 1234#1234: *5 open() "/usr/share/nginx/html/favicon.ico" failed (2: No such file or directory), client: 203.0.113.9, server: shop.example, request: "GET /favicon.ico HTTP/1.1", host: "shop.example"`
	benchSyslog3164 = `<38>Nov 24 00:00:01 web-7 sshd[4821]: Accepted publickey for deploy from 203.0.113.9 port 52144 ssh2: ED25519 SHA256:Jx0hG1ICB5c4nDd0S2eYbY0Fh2Zx3l6F9qkT0mV9A2s`
)

// BenchmarkGrok runs library patterns on lines they match (from the first
// byte, or further in) and on lines they do not match (refused by the
// literal prefilter, or only by the regular expression).
func BenchmarkGrok(b *testing.B) {
	for _, bc := range []struct {
		name, pattern, line string
		match               bool
	}{
		{"COMBINEDAPACHELOG/access line", "%{COMBINEDAPACHELOG}", benchAccess, true},
		{"COMBINEDAPACHELOG/access line after a syslog header", "%{COMBINEDAPACHELOG}", "<190>Nov 24 00:00:01 web-7 nginx: " + benchAccess, true},
		{"COMBINEDAPACHELOG/nginx error line", "%{COMBINEDAPACHELOG}", benchNginxError, false},
		{"COMBINEDAPACHELOG/access line with a bad status", "%{COMBINEDAPACHELOG}", strings.Replace(benchAccess, " 200 ", " OK ", 1), false},
		{"^COMBINEDAPACHELOG$/access line", "^%{COMBINEDAPACHELOG}$", benchAccess, true},
		{"SYSLOGLINE/RFC 3164 line", "%{SYSLOGLINE}", benchSyslog3164[4:], true},
		{"SYSLOG5424LINE/RFC 5424 line", "%{SYSLOG5424LINE}", benchSyslog5424, true},
		{"SYSLOG5424LINE/RFC 3164 line", "%{SYSLOG5424LINE}", benchSyslog3164, false},
		{"ISO8601 LOGLEVEL/logfmt line", "%{TIMESTAMP_ISO8601:ts} %{LOGLEVEL:level} %{GREEDYDATA:msg}", benchLogfmt, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			g, err := CompileGrok(bc.pattern, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.line)))
			for b.Loop() {
				if _, ok := g.Parse(bc.line); ok != bc.match {
					b.Fatalf("match %v", ok)
				}
			}
		})
	}
}

func BenchmarkSyslog5424(b *testing.B) {
	b.Run("hand-written", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(benchSyslog5424)))
		opts := SyslogOptions{}
		for b.Loop() {
			if _, err := Syslog(benchSyslog5424, opts); err != nil {
				b.Fatal(err)
			}
		}
	})
	// What Syslog cost when go-syslog's machine read RFC 5424: a machine
	// per message, then the fields copied into a map.
	b.Run("go-syslog", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(benchSyslog5424)))
		for b.Loop() {
			m, err := syslog5424Reference(rfc5424.NewMachine(rfc5424.WithBestEffort()), benchSyslog5424)
			if err != nil {
				b.Fatal(err)
			}
			out := make(map[string]any, m.NumFields()+2)
			m.Each(func(k string, v any) { out[k] = v })
			out["timestamp"], out["message"] = m.Timestamp, m.Message
		}
	})
}

func BenchmarkSyslog3164(b *testing.B) {
	opts := SyslogOptions{Now: func() time.Time { return time.Date(2024, 5, 2, 0, 0, 0, 0, time.UTC) }}
	b.Run("hand-written", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(benchSyslog3164)))
		for b.Loop() {
			if _, err := Syslog(benchSyslog3164, opts); err != nil {
				b.Fatal(err)
			}
		}
	})
	// What Syslog cost when go-syslog's machine read RFC 3164: a machine
	// per message, then the fields copied into a map.
	b.Run("go-syslog", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(benchSyslog3164)))
		for b.Loop() {
			msg, err := rfc3164.NewMachine(rfc3164.WithBestEffort(), rfc3164.WithRFC3339(), rfc3164.WithSecondFractions(),
				rfc3164.WithLenientDay(), rfc3164.WithEmbeddedNewlines()).Parse([]byte(benchSyslog3164))
			if err != nil {
				b.Fatal(err)
			}
			m := msg.(*rfc3164.SyslogMessage)
			out := map[string]any{"facility": int64(*m.Facility), "severity": int64(*m.Severity), "severity_text": SyslogSeverityName(int(*m.Severity)),
				"timestamp": syslogStamp(*m.Timestamp, opts)}
			for k, v := range map[string]*string{"hostname": m.Hostname, "appname": m.Appname, "procid": m.ProcID, "message": m.Message} {
				if v != nil {
					out[k] = *v
				}
			}
		}
	})
}

func BenchmarkRedact(b *testing.B) {
	r, err := NewRedactor(BuiltinRedactions(), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("secrets", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(benchRedact)))
		for b.Loop() {
			if _, n := r.Redact(benchRedact); n != 4 {
				b.Fatalf("%d redactions", n)
			}
		}
	})
	b.Run("clean", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(benchLogfmt)))
		for b.Loop() {
			r.Redact(benchLogfmt)
		}
	})
}

func BenchmarkUserAgent(b *testing.B) {
	const ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
	b.Run("parse", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			UserAgent(ua)
		}
	})
	b.Run("cached", func(b *testing.B) {
		c := NewUserAgentCache(16)
		b.ReportAllocs()
		for b.Loop() {
			c.Parse(ua)
		}
	})
}
