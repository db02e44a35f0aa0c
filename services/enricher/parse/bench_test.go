package parse

import (
	"testing"
	"time"

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

func BenchmarkGrokApache(b *testing.B) {
	for _, bc := range []struct{ name, pattern string }{
		{"unanchored", "%{COMBINEDAPACHELOG}"},
		{"anchored", "^%{COMBINEDAPACHELOG}$"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			g, err := CompileGrok(bc.pattern, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(apacheLine)))
			for b.Loop() {
				if _, ok := g.Parse(apacheLine); !ok {
					b.Fatal("no match")
				}
			}
		})
	}
	b.Run("no match", func(b *testing.B) {
		g, err := CompileGrok("%{COMBINEDAPACHELOG}", nil)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.SetBytes(int64(len(benchLogfmt)))
		for b.Loop() {
			if _, ok := g.Parse(benchLogfmt); ok {
				b.Fatal("match")
			}
		}
	})
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
	const line = `<38>May  1 12:00:00 web-01 sshd[4821]: Accepted publickey for deploy from 203.0.113.9 port 52144 ssh2: ED25519 SHA256:Jx0hG1ICB5c4nDd0S2eYbY0Fh2Zx3l6F9qkT0mV9A2s`
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	opts := SyslogOptions{Now: func() time.Time { return time.Date(2024, 5, 2, 0, 0, 0, 0, time.UTC) }}
	for b.Loop() {
		if _, err := Syslog(line, opts); err != nil {
			b.Fatal(err)
		}
	}
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
