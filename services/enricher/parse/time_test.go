package parse

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

func TestTime(t *testing.T) {
	now := time.Date(2025, 3, 15, 12, 0, 0, 0, time.UTC)
	cet := time.FixedZone("CET", 3600)
	may1 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		v       any
		layouts []string
		loc     *time.Location
		want    time.Time
		errHas  string
	}{
		{name: "RFC3339", v: "2024-05-01T12:00:00Z", layouts: []string{"RFC3339"}, want: may1},
		{name: "RFC3339 with offset", v: "2024-05-01T14:00:00+02:00", layouts: []string{"RFC3339"}, want: may1},
		{name: "RFC3339Nano", v: "2024-05-01T12:00:00.000000001Z", layouts: []string{"RFC3339Nano"}, want: may1.Add(1)},
		{name: "RFC1123", v: "Wed, 01 May 2024 12:00:00 UTC", layouts: []string{"RFC1123"}, want: may1},
		{name: "RFC1123Z", v: "Wed, 01 May 2024 13:00:00 +0100", layouts: []string{"RFC1123Z"}, want: may1},
		{name: "RFC822", v: "01 May 24 12:00 UTC", layouts: []string{"RFC822"}, want: may1},
		{name: "RFC822Z", v: "01 May 24 13:00 +0100", layouts: []string{"RFC822"}, want: may1},
		{name: "ISO8601 comma fraction", v: "2024-05-01T12:00:00,25Z", layouts: []string{"ISO8601"}, want: may1.Add(250 * time.Millisecond)},
		{name: "ISO8601 without zone uses loc", v: "2024-05-01 13:00:00", layouts: []string{"ISO8601"}, loc: cet, want: may1},
		{name: "ISO8601 basic", v: "20240501T140000+0200", layouts: []string{"ISO8601"}, want: may1},
		{name: "ISO8601 date", v: "2024-05-01", layouts: []string{"ISO8601"}, want: may1.Add(-12 * time.Hour)},
		{name: "apache", v: "01/May/2024:14:00:00 +0200", layouts: []string{"apache"}, want: may1},
		{name: "syslog infers the year", v: "Dec 31 23:00:00", layouts: []string{"syslog"}, want: time.Date(2024, 12, 31, 23, 0, 0, 0, time.UTC)},
		{name: "Go layout", v: "01.05.2024 13:00", layouts: []string{"02.01.2006 15:04"}, loc: cet, want: may1},
		{name: "Go layout without a year", v: "May  1 12:00", layouts: []string{"Jan _2 15:04"}, want: may1},
		{name: "first matching layout wins", v: "1714564800", layouts: []string{"RFC3339", "unix_ms", "unix"}, want: time.UnixMilli(1714564800)},
		{name: "unix int", v: 1714564800, layouts: []string{"unix"}, want: may1},
		{name: "unix int64", v: int64(1714564800), layouts: []string{"unix"}, want: may1},
		{name: "unix uint32", v: uint32(1714564800), layouts: []string{"unix"}, want: may1},
		{name: "unix float", v: 1714564800.5, layouts: []string{"unix"}, want: may1.Add(500 * time.Millisecond)},
		{name: "unix float32", v: float32(1.5), layouts: []string{"unix"}, want: time.Unix(1, 5e8)},
		{name: "unix json.Number", v: json.Number("1714564800"), layouts: []string{"unix"}, want: may1},
		{name: "unix string", v: " 1714564800 ", layouts: []string{"unix"}, want: may1},
		{name: "unix exponent", v: "1.7145648e9", layouts: []string{"unix"}, want: may1},
		{name: "unix negative", v: "-0.5", layouts: []string{"unix"}, want: time.Unix(0, -5e8)},
		{name: "unix_ms", v: int64(1714564800123), layouts: []string{"unix_ms"}, want: may1.Add(123 * time.Millisecond)},
		{name: "unix_us fraction", v: "1714564800000000.5", layouts: []string{"unix_us"}, want: may1.Add(500)},
		{name: "unix_ns", v: "1714564800000000001", layouts: []string{"unix_ns"}, want: may1.Add(1)},
		{name: "bytes", v: []byte("2024-05-01T12:00:00Z"), layouts: []string{"RFC3339"}, want: may1},
		{name: "time.Time passes", v: may1, layouts: []string{"unix"}, want: may1},
		{name: "default layouts", v: "2024-05-01T12:00:00Z", want: may1},
		{name: "default layouts, apache", v: "01/May/2024:12:00:00 +0000", want: may1},

		{name: "no layout matches", v: "yesterday", layouts: []string{"RFC3339", "unix"}, errHas: `matches none of the layouts "RFC3339", "unix"`},
		{name: "bool", v: true, layouts: []string{"unix"}, errHas: "from a bool"},
		{name: "struct", v: struct{}{}, layouts: []string{"unix"}, errHas: "from a struct {}"},
		{name: "slice", v: []int{1}, layouts: []string{"unix"}, errHas: "from a []int"},
		{name: "map", v: map[string]any{}, layouts: []string{"unix"}, errHas: "from a map[string]interface {}"},
		{name: "nil", v: nil, layouts: []string{"unix"}, errHas: "no value"},
		{name: "NaN", v: math.NaN(), layouts: []string{"unix"}, errHas: "NaN is not a timestamp"},
		{name: "Inf", v: math.Inf(1), layouts: []string{"unix"}, errHas: "+Inf is not a timestamp"},
		{name: "unix beyond year 9999", v: int64(math.MaxInt64), layouts: []string{"unix"}, errHas: "matches none"},
		{name: "huge float", v: 1e300, layouts: []string{"unix", "unix_ns"}, errHas: "matches none"},
		{name: "empty string", v: "", layouts: []string{"unix", "RFC3339"}, errHas: "matches none"},
		{name: "NUL bytes", v: "2024-05-01T12:00:00Z\x00", layouts: []string{"RFC3339"}, errHas: "matches none"},
		{name: "invalid UTF-8", v: "\xff\xfe", layouts: []string{"RFC3339", "syslog", "unix"}, errHas: "matches none"},
		{name: "10 MB string", v: strings.Repeat("9", 10<<20), layouts: []string{"unix", "ISO8601", "syslog"}, errHas: "matches none"},
		{name: "unix from text", v: "12abc", layouts: []string{"unix"}, errHas: "matches none"},
		{name: "unix from a hex float", v: "0x1p30", layouts: []string{"unix"}, errHas: "matches none"},
		{name: "unix from Inf", v: "Inf", layouts: []string{"unix"}, errHas: "matches none"},
		{name: "unix from a lone dot", v: ".", layouts: []string{"unix"}, errHas: "matches none"},
		{name: "unix from a sign", v: "-", layouts: []string{"unix"}, errHas: "matches none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := timeAt(tt.v, tt.layouts, tt.loc, func() time.Time { return now })
			if wantSyntaxError(t, err, tt.errHas) {
				return
			}
			if !got.Equal(tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestTimeUsesTheClock(t *testing.T) {
	got, err := Time("Jan  2 03:04:05", []string{"syslog"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if now := time.Now(); got.Sub(now) > 32*24*time.Hour || now.Sub(got) > 366*24*time.Hour {
		t.Errorf("got %v, more than a year from now", got)
	}
}

func FuzzTime(f *testing.F) {
	for _, s := range []string{
		"2024-05-01T12:00:00Z", "2024-05-01 12:00:00,5", "01/May/2024:12:00:00 +0000", "Feb 29 00:00:00",
		"1714564800.123", "-1e9", "1e400", "0x1p3", ".5", "-", "+", "", "9999999999999999999999",
	} {
		f.Add(s)
	}
	layouts := []string{"RFC3339", "RFC3339Nano", "RFC1123", "RFC1123Z", "RFC822", "ISO8601", "apache", "syslog",
		"unix", "unix_ms", "unix_us", "unix_ns", "2006-01-02 15:04:05.000 MST"}
	now := func() time.Time { return time.Date(2025, 3, 15, 12, 0, 0, 0, time.UTC) }
	f.Fuzz(func(t *testing.T, s string) {
		for _, l := range layouts {
			ts, err := timeAt(s, []string{l}, nil, now)
			if err != nil {
				continue
			}
			if ts.Year() < -1 || ts.Year() > 10000 {
				t.Fatalf("layout %s read %q as %v", l, s, ts)
			}
			if _, err := ts.MarshalJSON(); err != nil && strings.HasPrefix(l, "unix") {
				t.Fatalf("layout %s read %q as %v, which does not encode: %v", l, s, ts, err)
			}
		}
	})
}
