package parse

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestNewRedactorErrors(t *testing.T) {
	tests := []struct {
		name    string
		builtin []string
		custom  map[string]string
		errHas  string
	}{
		{"unknown builtin", []string{"email", "ssn"}, nil, `unknown builtin "ssn"`},
		{"bad regexp", nil, map[string]string{"token": `tok(`}, `custom rule "token"`},
		{"empty custom name", nil, map[string]string{"": `x`}, `custom rule name ""`},
		{"custom name with a bracket", nil, map[string]string{"a]b": `x`}, `custom rule name "a]b"`},
		{"custom name taken by a builtin", nil, map[string]string{"email": `x`}, `custom rule "email" has the name of a builtin`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewRedactor(tt.builtin, tt.custom)
			if !errors.Is(err, ErrInvalidOption) || !strings.Contains(err.Error(), tt.errHas) {
				t.Fatalf("err = %v, want ErrInvalidOption containing %q", err, tt.errHas)
			}
			if r != nil {
				t.Error("a Redactor with an error")
			}
		})
	}
}

func TestRedact(t *testing.T) {
	tests := []struct {
		name    string
		builtin []string
		custom  map[string]string
		in      string
		want    string
		n       int
	}{
		{name: "email", builtin: []string{"email"}, in: "to: a.b+c@mail.example.co.uk, x@y", want: "to: [REDACTED:email], x@y", n: 1},
		{name: "card with spaces", builtin: []string{"credit_card"}, in: "pan 4111 1111 1111 1111 ok", want: "pan [REDACTED:credit_card] ok", n: 1},
		{name: "card with dashes", builtin: []string{"credit_card"}, in: "5500-0000-0000-0004", want: "[REDACTED:credit_card]", n: 1},
		{name: "amex grouping", builtin: []string{"credit_card"}, in: "3782 822463 10005", want: "[REDACTED:credit_card]", n: 1},
		{name: "19 digits failing Luhn", builtin: []string{"credit_card"}, in: "6011000990139424001", want: "6011000990139424001", n: 0},
		{name: "card after a number", builtin: []string{"credit_card"}, in: "1234 4111 1111 1111 1111", want: "1234 [REDACTED:credit_card]", n: 1},
		{name: "order number fails Luhn", builtin: []string{"credit_card"}, in: "order 4111111111111112", want: "order 4111111111111112", n: 0},
		{name: "too short", builtin: []string{"credit_card"}, in: "411111111111", want: "411111111111", n: 0},
		{name: "inside a longer number", builtin: []string{"credit_card"}, in: "94111111111111111119", want: "94111111111111111119", n: 0},
		{name: "glued to letters", builtin: []string{"credit_card"}, in: "id4111111111111111", want: "id4111111111111111", n: 0},
		{name: "small numbers are not grouped", builtin: []string{"credit_card"}, in: "1 2 3 4 5 6 7 8 9 1 2 3 0", want: "1 2 3 4 5 6 7 8 9 1 2 3 0", n: 0},
		{name: "bearer token keeps the scheme", builtin: []string{"bearer_token"}, in: "Authorization: Bearer abc.DEF-123_~+/=", want: "Authorization: Bearer [REDACTED:bearer_token]", n: 1},
		{name: "bearer JWT counts once", builtin: []string{"jwt", "bearer_token"}, in: "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig", want: "Bearer [REDACTED:bearer_token]", n: 1},
		{name: "AWS access key", builtin: []string{"aws_access_key"}, in: "id=AKIAIOSFODNN7EXAMPLE", want: "id=[REDACTED:aws_access_key]", n: 1},
		{name: "AWS access key too long", builtin: []string{"aws_access_key"}, in: "AKIAIOSFODNN7EXAMPLEX", want: "AKIAIOSFODNN7EXAMPLEX", n: 0},
		{name: "AWS secret key", builtin: []string{"aws_secret_key"}, in: "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
			want: "AWS_SECRET_ACCESS_KEY=[REDACTED:aws_secret_key]\n", n: 1},
		{name: "AWS secret key in YAML", builtin: []string{"aws_secret_key"}, in: `aws_secret_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"`,
			want: `aws_secret_key: "[REDACTED:aws_secret_key]"`, n: 1},
		{name: "41 characters is not a secret key", builtin: []string{"aws_secret_key"}, in: "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEYX",
			want: "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEYX", n: 0},
		{name: "JWT", builtin: []string{"jwt"}, in: "t=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln;", want: "t=[REDACTED:jwt];", n: 1},
		{name: "IPv4", builtin: []string{"ipv4"}, in: "from 192.168.1.10:443 and 1.2.3.4", want: "from [REDACTED:ipv4]:443 and [REDACTED:ipv4]", n: 2},
		{name: "IPv4 out of range", builtin: []string{"ipv4"}, in: "999.1.1.1 and 1.2.3", want: "999.1.1.1 and 1.2.3", n: 0},
		{name: "IPv6", builtin: []string{"ipv6"}, in: "[2001:db8::1]:443, ::1, fe80::1%eth0.", want: "[[REDACTED:ipv6]]:443, [REDACTED:ipv6], [REDACTED:ipv6].", n: 3},
		{name: "IPv6 look-alikes", builtin: []string{"ipv6"}, in: "12:34:56 std::vector 00:1a:2b:3c:4d:5e a::b::c ::", want: "12:34:56 std::vector 00:1a:2b:3c:4d:5e a::b::c ::", n: 0},
		{name: "custom with a redact group", custom: map[string]string{"password": `(?i)password=(?P<redact>\S+)`}, in: "user=x password=hunter2 y", want: "user=x password=[REDACTED:password] y", n: 1},
		{name: "custom whole match", custom: map[string]string{"ssn": `\b\d{3}-\d{2}-\d{4}\b`}, in: "ssn 123-45-6789", want: "ssn [REDACTED:ssn]", n: 1},
		{name: "custom empty matches are ignored", custom: map[string]string{"nothing": `x*`}, in: "abc", want: "abc", n: 0},
		{name: "a redaction exposing another", builtin: []string{"ipv4", "ipv6"}, in: "0.0.0.0::1", want: "[REDACTED:ipv4][REDACTED:ipv6]", n: 2},
		{name: "a custom rule matching its marker", custom: map[string]string{"caps": `[A-Z]+`}, in: "AB cd",
			want: "[REDACTED:caps] cd", n: 1},
		{name: "markers in the input stay", builtin: []string{"email"}, custom: map[string]string{"pw": `pw=(?P<redact>\S+)`},
			in: "pw=[REDACTED:pw] [REDACTED:email]", want: "pw=[REDACTED:pw] [REDACTED:email]", n: 0},
		{name: "nothing configured", in: "alice@example.com", want: "alice@example.com", n: 0},
		{name: "all builtins", builtin: BuiltinRedactions(), in: "alice@example.com 10.0.0.1 ::1 4111111111111111",
			want: "[REDACTED:email] [REDACTED:ipv4] [REDACTED:ipv6] [REDACTED:credit_card]", n: 4},
		{name: "NUL bytes", builtin: []string{"email"}, in: "\x00a@b.io\x00", want: "\x00[REDACTED:email]\x00", n: 1},
		{name: "invalid UTF-8", builtin: []string{"email"}, in: "\xffa@b.io\xfe", want: "\xff[REDACTED:email]\xfe", n: 1},
		{name: "empty", builtin: BuiltinRedactions(), in: "", want: "", n: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewRedactor(tt.builtin, tt.custom)
			if err != nil {
				t.Fatal(err)
			}
			got, n := r.Redact(tt.in)
			if got != tt.want || n != tt.n {
				t.Errorf("got %q (%d), want %q (%d)", got, n, tt.want, tt.n)
			}
		})
	}
}

func TestRedactLarge(t *testing.T) {
	r, err := NewRedactor(BuiltinRedactions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	// About a kilobyte of prose around four secrets, repeated to 10 MB.
	line := strings.Repeat("the quick brown fox jumps over the lazy dog ", 22) +
		"user alice@example.com from 10.0.0.1 paid with 4111 1111 1111 1111 token=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln "
	s := strings.Repeat(line, (10<<20)/len(line))
	start := time.Now()
	out, n := r.Redact(s)
	if want := 4 * ((10 << 20) / len(line)); n != want {
		t.Errorf("%d redactions, want %d", n, want)
	}
	if strings.Contains(out, "alice@") || strings.Contains(out, "4111") {
		t.Error("secrets left")
	}
	t.Logf("10 MB in %v", time.Since(start))
}

func TestRedactConcurrent(t *testing.T) {
	r, err := NewRedactor(BuiltinRedactions(), map[string]string{"pw": `pw=(?P<redact>\S+)`})
	if err != nil {
		t.Fatal(err)
	}
	const in = "pw=x alice@example.com 4111111111111111"
	want, _ := r.Redact(in)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if got, _ := r.Redact(in); got != want {
					t.Error("concurrent redaction differs")
					return
				}
			}
		})
	}
	wg.Wait()
}

func FuzzRedact(f *testing.F) {
	for _, s := range []string{
		"alice@example.com", "4111 1111 1111 1111", "1234 4111 1111 1111 1111", "Bearer abc", "AKIAIOSFODNN7EXAMPLE",
		"aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "eyJa.eyJb.c", "10.0.0.1", "2001:db8::1", "::ffff:1.2.3.4",
		"a@b.co@c.de", "1.2.3.4.5.6.7.8",
	} {
		f.Add(s)
	}
	r, err := NewRedactor(BuiltinRedactions(), nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, n := r.Redact(s)
		if n == 0 && out != s {
			t.Fatalf("no redactions but %q became %q", s, out)
		}
		if got := strings.Count(out, "[REDACTED:"); got < n+strings.Count(s, "[REDACTED:") {
			t.Fatalf("%d redactions but %d markers", n, got)
		}
		// Redacting the output again finds nothing: no secret survives,
		// and no marker creates a new match.
		if again, m := r.Redact(out); m != 0 {
			t.Fatalf("%q redacted to %q, which still has %d matches: %q", s, out, m, again)
		}
	})
}
