package parse

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/leodido/go-syslog/v4"
	"github.com/leodido/go-syslog/v4/rfc3164"
	"github.com/leodido/go-syslog/v4/rfc5424"
)

func TestSyslog(t *testing.T) {
	now := time.Date(2025, time.January, 1, 0, 0, 30, 0, time.UTC)
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	clock := func() time.Time { return now }
	tests := []struct {
		name    string
		in      string
		opts    SyslogOptions
		want    map[string]any
		wantErr error
		errHas  string
	}{
		{name: "RFC 5424 with structured data",
			in: `<165>1 2003-10-11T22:14:15.003Z host.example.com app 42 ID47 [a@1 x="1" y="2"][b@2] hello`,
			want: map[string]any{"facility": int64(20), "severity": int64(5), "severity_text": "notice",
				"timestamp": time.Date(2003, 10, 11, 22, 14, 15, 3e6, time.UTC), "hostname": "host.example.com",
				"appname": "app", "procid": "42", "msgid": "ID47", "message": "hello",
				"structured_data": map[string]any{"a@1": map[string]any{"x": "1", "y": "2"}, "b@2": map[string]any{}}}},
		{name: "RFC 5424 nil fields", in: "<7>1 - - - - - -",
			want: map[string]any{"facility": int64(0), "severity": int64(7), "severity_text": "debug"}},
		{name: "RFC 3164", in: "<38>Dec 31 23:59:50 gw sshd[99]: Accepted publickey", opts: SyslogOptions{Now: clock},
			want: map[string]any{"facility": int64(4), "severity": int64(6), "severity_text": "info",
				"timestamp": time.Date(2024, 12, 31, 23, 59, 50, 0, time.UTC), "hostname": "gw", "appname": "sshd",
				"procid": "99", "message": "Accepted publickey"}},
		{name: "RFC 3164 in a zone", in: "<38>Jul  1 12:00:00 gw app: m", opts: SyslogOptions{Location: berlin, Year: 2024},
			want: map[string]any{"facility": int64(4), "severity": int64(6), "severity_text": "info",
				"timestamp": time.Date(2024, 7, 1, 12, 0, 0, 0, berlin), "hostname": "gw", "appname": "app", "message": "m"}},
		{name: "RFC 3164 fixed year", in: "<0>Jan  1 00:00:00 h a: m", opts: SyslogOptions{Year: 1999},
			want: map[string]any{"facility": int64(0), "severity": int64(0), "severity_text": "emerg",
				"timestamp": time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC), "hostname": "h", "appname": "a", "message": "m"}},
		{name: "every severity has a name", in: "<191>1 - - - - - -",
			want: map[string]any{"facility": int64(23), "severity": int64(7), "severity_text": "debug"}},

		{name: "no PRI", in: "Oct 11 22:14:15 host app: m", wantErr: ErrNoPriority, errHas: "must start with <PRI>"},
		{name: "empty", in: "", wantErr: ErrNoPriority},
		{name: "unclosed PRI", in: "<13", wantErr: ErrNoPriority, errHas: "1 to 3 digits"},
		{name: "PRI too long", in: "<0013>1 - - - - - -", wantErr: ErrNoPriority},
		{name: "PRI over 191", in: "<192>1 - - - - - -", wantErr: ErrNoPriority, errHas: "192 is above 191"},
		{name: "NUL bytes", in: "\x00\x00", wantErr: ErrNoPriority},
		{name: "header after PRI broken", in: "<13>hello", wantErr: ErrPartial, errHas: "no timestamp at byte 4",
			want: map[string]any{"facility": int64(1), "severity": int64(5), "severity_text": "notice", "message": "hello"}},
		{name: "RFC 5424 broken", in: "<13>1 yesterday", wantErr: ErrPartial, errHas: `RFC 5424 timestamp at byte 6: want an RFC 3339 time such as 2003-10-11T22:14:15.003Z, or "-", and a space, found "yesterday"`,
			want: map[string]any{"facility": int64(1), "severity": int64(5), "severity_text": "notice"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Syslog(tt.in, tt.opts)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("err = %v, want %v containing %q", err, tt.wantErr, tt.errHas)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if ts, ok := got["timestamp"].(time.Time); ok {
				if want, ok := tt.want["timestamp"].(time.Time); ok && ts.Equal(want) {
					got["timestamp"] = want // compare instants, not *Location pointers
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %v\nwant %v", got, tt.want)
			}
		})
	}
}

func TestSyslogLargeInput(t *testing.T) {
	msg := strings.Repeat("x", 10<<20)
	for _, prefix := range []string{"<13>1 2024-05-01T00:00:00Z h a - - - ", "<13>Oct 11 22:14:15 h a: "} {
		got, err := Syslog(prefix+msg, SyslogOptions{Year: 2024})
		if err != nil {
			t.Fatal(err)
		}
		if got["message"] != msg {
			t.Errorf("%s…: message of %d bytes", prefix, len(got["message"].(string)))
		}
	}
}

func TestInferYear(t *testing.T) {
	stamp := func(m time.Month, d int) time.Time { return time.Date(0, m, d, 12, 0, 0, 0, time.UTC) }
	tests := []struct {
		name  string
		now   time.Time
		stamp time.Time
		want  int
	}{
		{"same day", time.Date(2025, 6, 1, 13, 0, 0, 0, time.UTC), stamp(6, 1), 2025},
		{"last December read in January", time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), stamp(12, 31), 2024},
		{"next January read in December (clock skew)", time.Date(2024, 12, 31, 23, 0, 0, 0, time.UTC), stamp(1, 1), 2025},
		{"30 days ahead stays this year", time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC), stamp(3, 31), 2025},
		{"32 days ahead is last year", time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC), stamp(4, 2), 2024},
		{"Feb 29 goes to the last leap year", time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC), stamp(2, 29), 2024},
		{"Feb 29 in a leap year", time.Date(2028, 3, 1, 0, 0, 0, 0, time.UTC), stamp(2, 29), 2028},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := inferYear(tt.stamp, time.UTC, tt.now)
			if got.Year() != tt.want || got.Month() != tt.stamp.Month() || got.Day() != tt.stamp.Day() {
				t.Errorf("got %v, want year %d", got, tt.want)
			}
		})
	}
}

func FuzzSyslog(f *testing.F) {
	for _, s := range []string{
		`<165>1 2003-10-11T22:14:15.003Z host app 42 ID47 [a@1 x="1\"\]"] hello`,
		"<34>Oct 11 22:14:15 mymachine su[1]: 'su root' failed",
		"<13>2024-01-02T03:04:05.123+01:00 host app[1]: x", "<13>Feb 29 00:00:00 h a: x",
		"<13>", "<13>1 ", "<1>1 - - - - - [", "<999>", "x", "<13>Oct 11 22:14:15.123456 h a: m\nn",
	} {
		f.Add(s)
	}
	opts := SyslogOptions{Now: func() time.Time { return time.Date(2025, 3, 15, 0, 0, 0, 0, time.UTC) }}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := Syslog(s, opts)
		if errors.Is(err, ErrNoPriority) {
			if m != nil {
				t.Fatal("map without a PRI")
			}
			return
		}
		if err != nil && !errors.Is(err, ErrPartial) {
			t.Fatalf("error wraps neither sentinel: %v", err)
		}
		if f, ok := m["facility"].(int64); !ok || f < 0 || f > 23 {
			t.Fatalf("facility %v", m["facility"])
		}
		if s, ok := m["severity"].(int64); !ok || s < 0 || s > 7 || m["severity_text"] != severityNames[s] {
			t.Fatalf("severity %v %v", m["severity"], m["severity_text"])
		}
		if ts, ok := m["timestamp"]; ok {
			if _, ok := ts.(time.Time); !ok {
				t.Fatalf("timestamp is a %T", ts)
			}
		}
		for _, k := range []string{"hostname", "appname", "procid", "msgid", "message"} {
			if v, ok := m[k]; ok && (v == "" || v == "-" && k != "message" || !strings.Contains(s, v.(string))) {
				t.Fatalf("%s %q is not a part of the message", k, v)
			}
		}
	})
}

// syslog5424Reference reads an RFC 5424 message with go-syslog's machine,
// as ParseSyslog did before it read them by hand.
func syslog5424Reference(machine syslog.Machine, s string) (SyslogMessage, error) {
	msg, err := machine.Parse([]byte(s))
	if err != nil {
		return SyslogMessage{}, err
	}
	m := msg.(*rfc5424.SyslogMessage)
	out := SyslogMessage{Facility: int(*m.Facility), Severity: int(*m.Severity),
		Hostname: orEmpty(m.Hostname), Appname: orEmpty(m.Appname), ProcID: orEmpty(m.ProcID), MsgID: orEmpty(m.MsgID), Message: orEmpty(m.Message)}
	if m.Timestamp != nil {
		out.Timestamp = m.Timestamp.UTC()
	}
	if m.StructuredData != nil {
		out.StructuredData = map[string]any{}
		for id, params := range *m.StructuredData {
			p := map[string]any{}
			for k, v := range params {
				p[k] = v
			}
			out.StructuredData[id] = p
		}
	}
	return out, nil
}

// FuzzSyslog5424 checks the hand-written RFC 5424 reader against the
// machine of github.com/leodido/go-syslog, which ParseSyslog used before:
// where the machine reads a message whole, ParseSyslog reads the same
// fields, and where the machine fails, ParseSyslog fails too.
func FuzzSyslog5424(f *testing.F) {
	for _, line := range goldenLines(f, "syslog") {
		if strings.Contains(line, ">1 ") {
			f.Add(line)
		}
	}
	f.Add(benchSyslog5424)
	machine := rfc5424.NewMachine(rfc5424.WithBestEffort())
	f.Fuzz(func(t *testing.T, s string) {
		if _, n, err := syslogPriority(s); err != nil || !strings.HasPrefix(s[n:], "1 ") || n > 3 && s[1] == '0' {
			return // not RFC 5424, or a PRI with a leading zero, which the machine refuses
		}
		got, err := ParseSyslog(s, SyslogOptions{})
		want, merr := syslog5424Reference(machine, s)
		if merr != nil {
			if err == nil {
				t.Fatalf("%q: the machine fails (%v), ParseSyslog reads %+v", s, merr, got)
			}
			return
		}
		if err != nil {
			t.Fatalf("%q: the machine reads it, ParseSyslog fails: %v", s, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\n got  %+v\n want %+v", s, got, want)
		}
	})
}

// orEmpty is what go-syslog's optional field holds, "" for nil and "-".
func orEmpty(v *string) string {
	if v == nil || *v == "-" {
		return ""
	}
	return *v
}

// TestSyslog3164AgreesWithGoSyslog reads RFC 3164 lines of every shape
// senders write (with and without host, tag and pid; padded and unpadded
// days; fractions; RFC 3339 times; extra spaces) with ParseSyslog and with
// the machine of github.com/leodido/go-syslog, which ParseSyslog used
// before, and wants the same fields. The lines that machine reads oddly
// are in the golden file instead.
func TestSyslog3164AgreesWithGoSyslog(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	opts := SyslogOptions{Year: 2024}
	machine := rfc3164.NewMachine(rfc3164.WithBestEffort(), rfc3164.WithRFC3339(), rfc3164.WithSecondFractions(),
		rfc3164.WithLenientDay(), rfc3164.WithEmbeddedNewlines(), rfc3164.WithYear(rfc3164.Year{YYYY: 2024}))
	word := func(alphabet string, n int) string {
		b := make([]byte, 1+r.IntN(n))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		return string(b)
	}
	const lower = "abcdefghijklmnopqrstuvwxyz"
	spaces := func() string { return strings.Repeat(" ", 1+r.IntN(3)) }
	for range 5000 {
		var b strings.Builder
		fmt.Fprintf(&b, "<%d>%s", r.IntN(192), strings.Repeat(" ", r.IntN(2)))
		if r.IntN(4) == 0 {
			ts := time.Date(2024, time.Month(1+r.IntN(12)), 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60), r.IntN(1e6)*1000, time.FixedZone("", (r.IntN(27)-13)*3600))
			b.WriteString(ts.Format("2006-01-02T15:04:05.999999Z07:00"))
		} else {
			day := 1 + r.IntN(28)
			layout := []string{"Jan _2 15:04:05", "Jan 02 15:04:05", "Jan _2 15:04:05.000", "Jan _2 15:04:05.000000"}[r.IntN(4)]
			b.WriteString(time.Date(2024, time.Month(1+r.IntN(12)), day, r.IntN(24), r.IntN(60), r.IntN(60), r.IntN(1e9), time.UTC).Format(layout))
		}
		b.WriteString(spaces())
		if r.IntN(4) > 0 {
			b.WriteString(word(lower+"0123456789.-", 20) + spaces())
		}
		if r.IntN(4) > 0 {
			b.WriteString(word(lower+"ABC0123456789_./-", 20))
			if r.IntN(2) == 0 {
				b.WriteString("[" + word("0123456789", 6) + "]")
			}
			b.WriteString(": ")
		}
		if r.IntN(8) == 0 {
			b.WriteString(" ") // a message that starts with a space
		}
		b.WriteString(word(lower, 8))
		for range r.IntN(6) {
			if r.IntN(4) == 0 {
				b.WriteString(":") // "error: ..." after the tag, or as one
			}
			b.WriteString(" " + word(lower+"0123456789=,;()/.\t", 10))
		}
		s := b.String()
		got, err := ParseSyslog(s, opts)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		msg, err := machine.Parse([]byte(s))
		if err != nil {
			t.Fatalf("%q: go-syslog: %v", s, err)
		}
		m := msg.(*rfc3164.SyslogMessage)
		want := SyslogMessage{Facility: int(*m.Facility), Severity: int(*m.Severity), Timestamp: syslogStamp(*m.Timestamp, opts).UTC(),
			Hostname: orEmpty(m.Hostname), Appname: orEmpty(m.Appname), ProcID: orEmpty(m.ProcID), Message: orEmpty(m.Message)}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\n got  %+v\n want %+v", s, got, want)
		}
	}
}
