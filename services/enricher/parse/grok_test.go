package parse

import (
	"errors"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
)

const apacheLine = `203.0.113.9 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif?id=1234&lang=en HTTP/1.1" 200 2326 "http://www.example.com/start.html" "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"`

func TestCompileGrokErrors(t *testing.T) {
	tests := []struct {
		name    string
		pattern string
		custom  map[string]string
		errHas  string
	}{
		{"unknown pattern", "%{IP:ip} %{NOPE:x}", nil, "unknown pattern %{NOPE}"},
		{"unknown pattern inside a custom one", "%{MINE}", map[string]string{"MINE": "%{ALSO_NOPE}"}, "unknown pattern %{ALSO_NOPE} in pattern MINE"},
		{"cycle", "%{A}", map[string]string{"A": "x%{B}", "B": "%{A}"}, "pattern A refers to itself: A → B → A"},
		{"self reference", "%{A}", map[string]string{"A": "%{A}"}, "pattern A refers to itself"},
		{"unknown type", "%{INT:n:integer}", nil, `unknown type "integer"`},
		{"empty reference", "%{}", nil, "bad reference %{}"},
		{"too many colons", "%{INT:a:int:x}", nil, "bad reference"},
		{"bad regexp", "%{INT:n} (", nil, "does not compile"},
		{"reserved group name", "(?P<_grok0>x)", nil, "reserved"},
		{"reserved group name taken", "%{INT:n} (?P<_grok0>x)", nil, "reserved"},
		{"reserved group prefix", "(?P<_grokx>x)", nil, "reserved"},
		{"bad custom name", "x", map[string]string{"MY-PAT": "y"}, `custom pattern name "MY-PAT"`},
		{"exponential expansion", "%{A}", func() map[string]string {
			// Each level refers to the one below twice: 2^20 copies of IPV6.
			m := map[string]string{"Z": "%{IPV6}"}
			prev := "Z"
			for i := range 20 {
				name := string(rune('Y' - i))
				m[name] = "%{" + prev + "}%{" + prev + "}"
				prev = name
			}
			m["A"] = "%{" + prev + "}"
			return m
		}(), "expands to more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := CompileGrok(tt.pattern, tt.custom)
			if !errors.Is(err, ErrInvalidOption) || !strings.Contains(err.Error(), tt.errHas) {
				t.Fatalf("err = %v, want ErrInvalidOption containing %q", err, tt.errHas)
			}
			if g != nil {
				t.Error("a Grok with an error")
			}
		})
	}
}

func TestGrokParse(t *testing.T) {
	tests := []struct {
		name    string
		pattern string
		custom  map[string]string
		in      string
		want    map[string]any // nil: no match
	}{
		{name: "combined apache log", pattern: "%{COMBINEDAPACHELOG}", in: apacheLine, want: map[string]any{
			"source.address": "203.0.113.9", "user.name": "frank", "timestamp": "10/Oct/2000:13:55:36 -0700",
			"http.request.method": "GET", "url.original": "/apache_pb.gif?id=1234&lang=en", "http.version": "1.1",
			"http.response.status_code": int64(200), "http.response.body.size": int64(2326),
			"http.request.referrer": "http://www.example.com/start.html",
			"user_agent.original":   "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
		}},
		{name: "dotted names stay flat", pattern: "%{INT:http.status:int}", in: "404", want: map[string]any{"http.status": int64(404)}},
		{name: "unnamed references capture nothing", pattern: "%{IP} %{WORD:w}", in: "10.0.0.1 hello", want: map[string]any{"w": "hello"}},
		{name: "inner names of a library pattern are captured", pattern: "%{SYSLOGBASE}", in: "Oct 11 22:14:15 host sshd[42]:",
			want: map[string]any{"timestamp": "Oct 11 22:14:15", "host.name": "host", "process.name": "sshd", "process.pid": int64(42)}},
		{name: "float", pattern: "%{NUMBER:f:float}", in: "took 0.25s", want: map[string]any{"f": 0.25}},
		{name: "int from a fraction truncates", pattern: "%{NUMBER:n:int}", in: "-3.9", want: map[string]any{"n": int64(-3)}},
		{name: "int overflow stays a string", pattern: "%{INT:n:long}", in: "99999999999999999999999", want: map[string]any{"n": "99999999999999999999999"}},
		{name: "bool", pattern: "%{WORD:b:boolean}", in: "true", want: map[string]any{"b": true}},
		{name: "string type", pattern: "%{INT:n:string}", in: "7", want: map[string]any{"n": "7"}},
		{name: "empty optional capture is left out", pattern: `%{WORD:a}(?: %{WORD:b})?$`, in: "x", want: map[string]any{"a": "x"}},
		{name: "raw named group", pattern: `(?<code>[A-Z]{3})-%{INT:n:int}`, in: "ERR-5", want: map[string]any{"code": "ERR", "n": int64(5)}},
		{name: "custom pattern", pattern: "%{KEY:k}=%{VAL:v}", custom: map[string]string{"KEY": `\w+`, "VAL": `%{QUOTEDSTRING}|\S+`},
			in: `user="bob"`, want: map[string]any{"k": "user", "v": `"bob"`}},
		{name: "custom overrides the library", pattern: "%{INT:n}", custom: map[string]string{"INT": "[0-9]{2}"}, in: "12345", want: map[string]any{"n": "12"}},
		{name: "same field twice: the last non-empty wins", pattern: "%{WORD:w} %{WORD:w}", in: "a b", want: map[string]any{"w": "b"}},
		{name: "Logstash-style bracket names", pattern: "%{WORD:[http][method]}", in: "GET", want: map[string]any{"[http][method]": "GET"}},
		{name: "LOGLEVEL is case-insensitive", pattern: "%{LOGLEVEL:l}", in: "WARNING", want: map[string]any{"l": "WARNING"}},
		{name: "UUID", pattern: "%{UUID:id}", in: "id=123e4567-e89b-12d3-a456-426614174000", want: map[string]any{"id": "123e4567-e89b-12d3-a456-426614174000"}},
		{name: "ISO8601 timestamp", pattern: "%{TIMESTAMP_ISO8601:ts}", in: "at 2024-05-01T12:00:00.5+02:00", want: map[string]any{"ts": "2024-05-01T12:00:00.5+02:00"}},

		{name: "no match", pattern: "%{COMBINEDAPACHELOG}", in: "hello"},
		{name: "anchored no match", pattern: "^%{INT}$", in: "12a"},
		{name: "invalid UTF-8", pattern: "^%{WORD:w}$", in: "\xff\xfe"},
		{name: "NUL bytes", pattern: "%{GREEDYDATA:all}", in: "a\x00b", want: map[string]any{"all": "a\x00b"}},
		{name: "longer than MaxMatchInput", pattern: "%{GREEDYDATA:all}", in: strings.Repeat("x", MaxMatchInput+1)},
		{name: "10 MB", pattern: "%{COMBINEDAPACHELOG}", in: strings.Repeat(apacheLine, (10<<20)/len(apacheLine))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := CompileGrok(tt.pattern, tt.custom)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := g.Parse(tt.in)
			if ok != (tt.want != nil) {
				t.Fatalf("ok = %v, want %v (got %v)", ok, tt.want != nil, got)
			}
			if ok && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %v\nwant %v", got, tt.want)
			}
		})
	}
}

// TestGrokLibraryCompiles compiles every library pattern on its own.
func TestGrokLibraryCompiles(t *testing.T) {
	names := GrokPatternNames()
	if len(names) < 200 {
		t.Fatalf("only %d patterns", len(names))
	}
	for _, want := range []string{"IP", "IPV4", "IPV6", "WORD", "NUMBER", "INT", "DATA", "GREEDYDATA", "TIMESTAMP_ISO8601",
		"HTTPDATE", "COMBINEDAPACHELOG", "HTTPD_COMBINEDLOG", "SYSLOGBASE", "LOGLEVEL", "UUID", "URIPATHPARAM"} {
		if _, err := CompileGrok("%{"+want+"}", nil); err != nil {
			t.Errorf("%s: %v", want, err)
		}
	}
	for _, name := range names {
		if _, err := CompileGrok("%{"+name+":x}", nil); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestGrokDropsOnlyUnnamedGroups checks that removing unnamed groups from
// the expanded expression changes no match: the same fields come out of the
// expression go-grok's way of expanding would give.
func TestGrokDropsOnlyUnnamedGroups(t *testing.T) {
	lines := []string{
		apacheLine,
		`2001:db8::1 - - [01/May/2024:00:00:01 +0000] "POST /x HTTP/2.0" 201 - "-" "curl/8"`,
		`::ffff:10.0.0.1 - - [01/May/2024:00:00:01 +0000] "GET / HTTP/1.0" 404 12 "-" "-"`,
		`fe80::1%eth0 - - [01/May/2024:00:00:01 +0000] "BREW /pot" 418 - "-" "-"`,
		"Oct 11 22:14:15 mymachine su[123]: 'su root' failed",
		"2024-05-01T12:00:00.123Z WARN disk almost full",
	}
	for _, pattern := range []string{"%{COMBINEDAPACHELOG}", "%{SYSLOGLINE}", "%{TIMESTAMP_ISO8601:t} %{LOGLEVEL:l} %{GREEDYDATA:m}", "%{IPORHOST:h}"} {
		g, err := CompileGrok(pattern, nil)
		if err != nil {
			t.Fatal(err)
		}
		c := &grokCompiler{lib: grokLibrary()}
		expanded, err := c.expand(pattern, nil)
		if err != nil {
			t.Fatal(err)
		}
		full := regexp.MustCompile(expanded)
		if full.NumSubexp() <= g.re.NumSubexp() {
			t.Errorf("%s: %d groups before dropping, %d after", pattern, full.NumSubexp(), g.re.NumSubexp())
		}
		for _, line := range lines {
			want := map[string]string{}
			if m := full.FindStringSubmatch(line); m != nil {
				for i, name := range full.SubexpNames() {
					if name != "" && m[i] != "" {
						want[name] = m[i]
					}
				}
			}
			got := map[string]string{}
			if m := g.re.FindStringSubmatch(line); m != nil {
				for i, name := range g.re.SubexpNames() {
					if name != "" && m[i] != "" {
						got[name] = m[i]
					}
				}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s on %q:\n got  %v\n want %v", pattern, line, got, want)
			}
		}
	}
}

// TestGrokStartShortcut checks that trying the match at the start first
// gives what the unanchored expression alone gives, for lines that match at
// the start, later, or not at all.
func TestGrokStartShortcut(t *testing.T) {
	lines := []string{
		apacheLine, "junk " + apacheLine, apacheLine + " junk", "GET", "",
		"10.0.0.1 GET /x 1", "a 10.0.0.1 GET /x 1", "host 10.0.0.1 GET", "::1 a b c", "x ::1 a b c",
	}
	for _, pattern := range []string{"%{COMBINEDAPACHELOG}", "%{IPORHOST:h} %{WORD:m}", "%{WORD:w}|%{IP:ip}", `\b%{WORD:w} %{NOTSPACE:n}`, "(?m)^%{WORD:w}$"} {
		g, err := CompileGrok(pattern, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range lines {
			got, gotOK := g.Parse(line)
			want, wantOK := map[string]any{}, false
			if loc := g.re.FindStringSubmatchIndex(line); loc != nil {
				wantOK = true
				for i, f := range g.fields {
					if f.conv != grokNone && loc[2*i] >= 0 && loc[2*i] < loc[2*i+1] {
						want[f.name] = convertGrok(line[loc[2*i]:loc[2*i+1]], f.conv)
					}
				}
			}
			if gotOK != wantOK || (gotOK && !reflect.DeepEqual(got, want)) {
				t.Errorf("%s on %q: got %v %v, want %v %v", pattern, line, got, gotOK, want, wantOK)
			}
		}
	}
}

func TestGrokRequiredLiterals(t *testing.T) {
	tests := []struct {
		pattern string
		want    []string
	}{
		{"%{COMBINEDAPACHELOG}", []string{" [", "/", ":", `] "`, `" "`}},
		{`abc(?:x|y)def`, []string{"abc", "def"}},
		{`a?b*c+(?:d){2}(?i:e)`, []string{"c", "d"}},
		{`%{WORD:w}`, nil},
	}
	for _, tt := range tests {
		g, err := CompileGrok(tt.pattern, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(g.required, tt.want) {
			t.Errorf("%s: required %q, want %q", tt.pattern, g.required, tt.want)
		}
	}
}

func TestGrokConcurrent(t *testing.T) {
	g, err := CompileGrok("%{COMBINEDAPACHELOG}", nil)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := g.Parse(apacheLine)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				if got, ok := g.Parse(apacheLine); !ok || !reflect.DeepEqual(got, want) {
					t.Error("concurrent parse differs")
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestRegex(t *testing.T) {
	tests := []struct {
		name string
		re   string
		in   string
		want map[string]any // nil: no match
	}{
		{"named groups", `(?P<user>\w+)@(?P<host>[\w.]+)`, "mail bob@example.com", map[string]any{"user": "bob", "host": "example.com"}},
		{"unnamed groups ignored", `(\d+)-(?P<b>\d+)`, "1-2", map[string]any{"b": "2"}},
		{"optional group absent", `(?P<a>x)(?P<b>y)?`, "x", map[string]any{"a": "x"}},
		{"optional group empty", `(?P<a>x)(?P<b>y*)`, "x", map[string]any{"a": "x"}},
		{"duplicate names: last non-empty", `(?P<v>a)|(?P<v>b)`, "b", map[string]any{"v": "b"}},
		{"no groups", `x`, "x", map[string]any{}},
		{"no match", `^\d+$`, "abc", nil},
		{"invalid UTF-8", `(?P<all>.+)`, "\xff", map[string]any{"all": "\xff"}},
		{"too long", `(?P<all>.+)`, strings.Repeat("x", MaxMatchInput+1), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Regex(regexp.MustCompile(tt.re), tt.in)
			if ok != (tt.want != nil) {
				t.Fatalf("ok = %v, want %v", ok, tt.want != nil)
			}
			if ok && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	if _, ok := Regex(nil, "x"); ok {
		t.Error("a nil regexp matched")
	}
}

func FuzzGrokApache(f *testing.F) {
	g, err := CompileGrok("%{COMBINEDAPACHELOG}", nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(apacheLine)
	f.Add(`::1 - - [01/May/2024:00:00:01 +0000] "GET / HTTP/1.0" 200 - "-" "-"`)
	f.Add(`a - - [x] "" 1 1 "" ""`)
	f.Fuzz(func(t *testing.T, s string) {
		m, ok := g.Parse(s)
		// The shortcuts (required literals, the match at the start) must
		// not change the outcome of the plain unanchored search.
		if plain := len(s) <= MaxMatchInput && g.re.MatchString(s); plain != ok {
			t.Fatalf("Parse says %v, the unanchored regexp %v", ok, plain)
		}
		if !ok {
			return
		}
		for k, v := range m {
			switch v := v.(type) {
			case string:
				if !strings.Contains(s, v) {
					t.Fatalf("field %s = %q is not in the input", k, v)
				}
			case int64:
			default:
				t.Fatalf("field %s has a %T", k, v)
			}
		}
	})
}
