package parse

import (
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"
)

func TestParseAccessLog(t *testing.T) {
	tests := []struct {
		name   string
		format AccessLogFormat
		in     string
		want   AccessLog
		errHas string // a malformed line: the error must say this
	}{
		{name: "combined", in: apacheLine, want: AccessLog{
			Client: "203.0.113.9", User: "frank", Time: time.Date(2000, 10, 10, 20, 55, 36, 0, time.UTC),
			Method: "GET", Target: "/apache_pb.gif?id=1234&lang=en", Version: "1.1", Status: 200, Size: 2326,
			Referrer:  "http://www.example.com/start.html",
			UserAgent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
		}},
		{name: "dashes are nothing", in: `- - - [01/Jan/2026:00:00:00 +0000] "-" - - "-" "-"`,
			want: AccessLog{Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Status: -1, Size: -1}},
		{name: "zone east of UTC", in: `::1 - - [01/Jan/2026:05:30:00 +0530] "GET / HTTP/2.0" 200 0 "" ""`,
			want: AccessLog{Client: "::1", Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Method: "GET", Target: "/", Version: "2.0", Status: 200}},
		{name: "leap day", in: `::1 - - [29/Feb/2024:00:00:00 +0000] "GET /" 200 0 "-" "-"`,
			want: AccessLog{Client: "::1", Time: time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), Method: "GET", Target: "/", Status: 200}},
		{name: "Apache escapes quotes", in: `::1 - - [01/Jan/2026:00:00:00 +0000] "GET /\"x HTTP/1.1" 200 1 "-" "a \"b\" \\"`,
			want: AccessLog{Client: "::1", Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Method: "GET", Target: `/\"x`, Version: "1.1", Status: 200, Size: 1, UserAgent: `a \"b\" \\`}},
		{name: "a request that is not HTTP has no parts", in: `::1 - - [01/Jan/2026:00:00:00 +0000] "\x16\x03\x01" 400 0 "-" "-"`,
			want: AccessLog{Client: "::1", Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Status: 400, Size: 0}},
		{name: "nginx main: X-Forwarded-For after the agent", in: `::1 - - [01/Jan/2026:00:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "curl" "198.51.100.7"`,
			want: AccessLog{Client: "::1", Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Method: "GET", Target: "/", Version: "1.1", Status: 200, Size: 1, UserAgent: "curl"}},
		{name: "common", format: AccessLogCommon, in: `example.com - bob [01/Jan/2026:00:00:00 +0000] "GET / HTTP/1.0" 404 12`,
			want: AccessLog{Client: "example.com", User: "bob", Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Method: "GET", Target: "/", Version: "1.0", Status: 404, Size: 12}},
		{name: "a line break at the end", in: "::1 - - [01/Jan/2026:00:00:00 +0000] \"-\" 200 1 \"-\" \"-\"\r\n",
			want: AccessLog{Client: "::1", Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Status: 200, Size: 1}},

		{name: "empty", in: "", errHas: "at byte 0: want the client address, found the end of the line"},
		{name: "not an access log", in: "nginx: [emerg] bind() to 0.0.0.0:80 failed", errHas: "at byte 22: want a time such as [10/Oct/2000:13:55:36 -0700], found \"to 0.0.0.0:80 failed\""},
		{name: "no zone", in: `::1 - - [01/Jan/2026:00:00:00] "GET /" 200 0 "-" "-"`, errHas: "at byte 8: want a time"},
		{name: "31 April", in: `::1 - - [31/Apr/2026:00:00:00 +0000] "GET /" 200 0 "-" "-"`, errHas: "at byte 8: want a time"},
		{name: "hour 24", in: `::1 - - [01/Jan/2026:24:00:00 +0000] "GET /" 200 0 "-" "-"`, errHas: "want a time"},
		{name: "unknown month", in: `::1 - - [01/Foo/2026:00:00:00 +0000] "GET /" 200 0 "-" "-"`, errHas: "want a time"},
		{name: "request not quoted", in: `::1 - - [01/Jan/2026:00:00:00 +0000] GET / 200 0 "-" "-"`, errHas: "at byte 37: want the request in double quotes"},
		{name: "status not a number", in: `::1 - - [01/Jan/2026:00:00:00 +0000] "GET /" OK 0 "-" "-"`, errHas: "at byte 45: want the status code, found \"OK 0"},
		{name: "status of 19 digits", in: `::1 - - [01/Jan/2026:00:00:00 +0000] "GET /" 2000000000000000000 0 "-" "-"`, errHas: "want the status code"},
		{name: "common line read as combined", in: `::1 - - [01/Jan/2026:00:00:00 +0000] "GET /" 200 0`, errHas: "at byte 50: want the referrer in double quotes, such as \"-\", found the end of the line (is the server's log format combined?)"},
		{name: "unclosed quote", in: `::1 - - [01/Jan/2026:00:00:00 +0000] "GET /" 200 0 "-" "curl`, errHas: `want the user agent in double quotes, found "\"curl", a quote that is not closed`},
		{name: "text glued to the last field", in: `::1 - - [01/Jan/2026:00:00:00 +0000] "GET /" 200 0 "-" "-"x`, errHas: "want a space or the end of the line"},
		{name: "common: text glued to the size", format: AccessLogCommon, in: `::1 - - [01/Jan/2026:00:00:00 +0000] "GET /" 200 0x`, errHas: "want the response size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAccessLog(tt.in, tt.format)
			if wantSyntaxError(t, err, tt.errHas) {
				return
			}
			if got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestAccessLogFieldsAreGroks checks that ParseAccessLog's fields are those
// grok's %{COMBINEDAPACHELOG} and %{HTTPD_COMMONLOG} capture, names, types
// and values, on every line of the golden input that grok matches from the
// start: one can replace the other without changing an index mapping or a
// search. Lines where they differ on purpose are listed with the reason.
func TestAccessLogFieldsAreGroks(t *testing.T) {
	patterns := map[AccessLogFormat]string{AccessLogCombined: "^%{COMBINEDAPACHELOG}", AccessLogCommon: "^%{HTTPD_COMMONLOG}"}
	differences := map[string]string{
		`\"`:                   "grok ends a quoted field at its first quote, escaped (as Apache writes it) or not",
		"31/Apr":               "grok does not check the day of the month",
		`"-"trailing`:          "grok reads the start of a line and ignores text glued to its last field",
		"99999999999999999999": "grok keeps a size beyond int64 as a string",
	}
	compared := 0
lines:
	for _, line := range goldenLines(t, "accesslog") {
		for s := range differences {
			if strings.Contains(line, s) {
				continue lines
			}
		}
		name, in, _ := strings.Cut(line, "\t")
		format, err := ParseAccessLogFormat(name)
		if err != nil {
			t.Fatal(err)
		}
		g, err := CompileGrok(patterns[format], nil)
		if err != nil {
			t.Fatal(err)
		}
		in = unescapeLine(in)
		want, ok := g.Parse(in)
		a, err := ParseAccessLog(in, format)
		if !ok {
			continue // grok is stricter on hosts, users and HTTP versions
		}
		if err != nil {
			t.Errorf("%q: grok matches, ParseAccessLog fails: %v", in, err)
			continue
		}
		compared++
		got := a.Fields()
		// Go's time.Parse refuses a leap second, which ParseAccessLog takes.
		if ts, err := time.Parse("02/Jan/2006:15:04:05 -0700", want["timestamp"].(string)); err == nil && !ts.Equal(got["timestamp"].(time.Time)) {
			t.Errorf("%q: time %v, grok's %v", in, got["timestamp"], want["timestamp"])
		}
		delete(got, "timestamp")
		delete(want, "timestamp")
		if !maps.Equal(got, want) {
			t.Errorf("%q:\n got  %v\n grok %v", in, got, want)
		}
	}
	if compared < 10 {
		t.Fatalf("only %d lines compared", compared)
	}
}

func TestParseAccessLogFormat(t *testing.T) {
	for _, name := range []string{"combined", "common"} {
		f, err := ParseAccessLogFormat(name)
		if err != nil || f.String() != name {
			t.Errorf("%s: %v %v", name, f, err)
		}
	}
	if _, err := ParseAccessLogFormat("Combined"); !errors.Is(err, ErrInvalidOption) || !strings.Contains(err.Error(), "use combined or common") {
		t.Errorf("err = %v", err)
	}
}

func FuzzAccessLog(f *testing.F) {
	for _, line := range goldenLines(f, "accesslog") {
		_, in, _ := strings.Cut(line, "\t")
		f.Add(unescapeLine(in), false)
	}
	f.Add(`a b c [01/Jan/2026:00:00:00 +0000] "" 1 2`, true)
	f.Fuzz(func(t *testing.T, s string, common bool) {
		format := AccessLogCombined
		if common {
			format = AccessLogCommon
		}
		a, err := ParseAccessLog(s, format)
		if err != nil {
			if !errors.Is(err, ErrSyntax) || a != (AccessLog{}) {
				t.Fatalf("error %v with %+v", err, a)
			}
			return
		}
		for _, part := range []string{a.Client, a.Ident, a.User, a.Method, a.Target, a.Version, a.Referrer, a.UserAgent} {
			if !strings.Contains(s, part) || part == "-" {
				t.Fatalf("part %q is not a part of the line", part)
			}
		}
		if a.Status < -1 || a.Size < -1 || a.Time.Location() != time.UTC {
			t.Fatalf("%+v", a)
		}
		if n := len(a.Fields()); n != a.NumFields()+1 {
			t.Fatalf("%d fields, NumFields %d", n, a.NumFields())
		}
		// Written out again, the line reads the same (in UTC, which
		// moves year 0000 east of UTC out of the four digits).
		if y := a.Time.Year(); y < 1 || y > 9999 {
			return
		}
		again, err := ParseAccessLog(formatAccessLog(a, format), format)
		if err != nil || again != a {
			t.Fatalf("%q gave %+v; written again as %q it gives %+v, %v", s, a, formatAccessLog(a, format), again, err)
		}
	})
}

// formatAccessLog writes a as the server would.
func formatAccessLog(a AccessLog, format AccessLogFormat) string {
	orDash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	num := func(n int64) string {
		if n < 0 {
			return "-"
		}
		return fmt.Sprint(n)
	}
	req := "-"
	if a.Method != "" {
		req = a.Method + " " + a.Target
		if a.Version != "" {
			req += " HTTP/" + a.Version
		}
	}
	s := fmt.Sprintf(`%s %s %s [%s] "%s" %s %s`, orDash(a.Client), orDash(a.Ident), orDash(a.User),
		a.Time.Format("02/Jan/2006:15:04:05 -0700"), req, num(a.Status), num(a.Size))
	if format == AccessLogCombined {
		s += fmt.Sprintf(` "%s" "%s"`, orDash(a.Referrer), orDash(a.UserAgent))
	}
	return s
}

func BenchmarkAccessLog(b *testing.B) {
	b.Run("parse", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(apacheLine)))
		for b.Loop() {
			if _, err := ParseAccessLog(apacheLine, AccessLogCombined); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parse to a map", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(apacheLine)))
		for b.Loop() {
			a, err := ParseAccessLog(apacheLine, AccessLogCombined)
			if err != nil {
				b.Fatal(err)
			}
			a.Fields()
		}
	})
	b.Run("no match", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(benchLogfmt)))
		for b.Loop() {
			if _, err := ParseAccessLog(benchLogfmt, AccessLogCombined); err == nil {
				b.Fatal("match")
			}
		}
	})
}
