package parse_test

import (
	"fmt"
	"time"

	"github.com/jetlog/jetlog/services/enricher/parse"
)

func ExampleJSON() {
	m, err := parse.JSON(`{"level":"info","status":200,"took":0.25}`, 0)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%T %v, %T %v\n", m["status"], m["status"], m["took"], m["took"])

	_, err = parse.JSON(`{"a":1} {"b":2}`, 0)
	fmt.Println(err)
	// Output:
	// int64 200, float64 0.25
	// json: syntax error: trailing data at byte 8 after the object ending at byte 7 (one object per event)
}

func ExampleCompileGrok() {
	g, err := parse.CompileGrok(`%{IPORHOST:client} %{WORD:method} %{URIPATHPARAM:path} %{INT:status:int}`, nil)
	if err != nil {
		panic(err)
	}
	m, ok := g.Parse("203.0.113.9 GET /index.html?q=1 404")
	fmt.Println(ok, m["client"], m["method"], m["path"], m["status"])

	_, err = parse.CompileGrok("%{IPADDR:client}", nil)
	fmt.Println(err)
	// Output:
	// true 203.0.113.9 GET /index.html?q=1 404
	// grok: invalid option: unknown pattern %{IPADDR} (see GrokPatternNames, or define it in the stage's custom patterns)
}

func ExampleSyslog() {
	opts := parse.SyslogOptions{Now: func() time.Time { return time.Date(2025, 1, 2, 0, 0, 0, 0, time.UTC) }}
	m, err := parse.Syslog("<38>Dec 31 23:59:59 gw sshd[99]: Accepted publickey for deploy", opts)
	if err != nil {
		panic(err)
	}
	fmt.Println(m["facility"], m["severity_text"], m["timestamp"], m["appname"], m["procid"], m["message"])
	// Output:
	// 4 info 2024-12-31 23:59:59 +0000 UTC sshd 99 Accepted publickey for deploy
}

func ExampleRedactor_Redact() {
	r, err := parse.NewRedactor([]string{"email", "credit_card", "bearer_token"}, map[string]string{
		"password": `password=(?P<redact>\S+)`,
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(r.Redact("alice@example.com paid with 4111 1111 1111 1111 (order 1234567890123), password=hunter2"))
	// Output:
	// [REDACTED:email] paid with [REDACTED:credit_card] (order 1234567890123), password=[REDACTED:password] 3
}

func ExampleKV() {
	m := parse.KV(`user=alice action="log in" ok`, "", "")
	fmt.Println(len(m), m["user"], m["action"])
	// Output:
	// 2 alice log in
}

func ExampleTime() {
	for _, v := range []any{"2024-05-01T12:00:00,5+02:00", int64(1714564800123), "01/May/2024:12:00:00 +0000"} {
		t, err := parse.Time(v, []string{"ISO8601", "unix_ms", "apache"}, nil)
		fmt.Println(t.UTC(), err)
	}
	// Output:
	// 2024-05-01 10:00:00.5 +0000 UTC <nil>
	// 2024-05-01 12:00:00.123 +0000 UTC <nil>
	// 2024-05-01 12:00:00 +0000 UTC <nil>
}
