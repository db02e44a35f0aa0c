package parse

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// reader5424 reads an RFC 5424 message after its "<PRI>1 ", following the
// RFC's grammar (section 6) as github.com/leodido/go-syslog does:
//
//	TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP STRUCTURED-DATA [SP MSG]
//
// Header fields are printable US-ASCII of at most 255, 48, 128 and 32
// bytes, or "-"; the timestamp is RFC 3339 with at most 6 fraction digits,
// or "-"; MSG is the rest of the line, as it is.
type reader5424 struct {
	s   string
	i   int
	out *SyslogMessage
}

func parse5424(s string, i int, out *SyslogMessage) error {
	p := reader5424{s: s, i: i, out: out}
	if i < len(s) && s[i] == '-' && p.sp(i+1) {
		p.i += 2
	} else {
		t, n, ok := rfc3339Micro(s[i:])
		if !ok || !p.sp(i+n) {
			return p.fail("timestamp", `an RFC 3339 time such as 2003-10-11T22:14:15.003Z, or "-", and a space`)
		}
		out.Timestamp = t
		p.i += n + 1
	}
	for _, f := range [...]struct {
		name string
		max  int
		to   *string
	}{
		{"hostname", 255, &out.Hostname},
		{"app-name", 48, &out.Appname},
		{"procid", 128, &out.ProcID},
		{"msgid", 32, &out.MsgID},
	} {
		start := p.i
		for p.i < len(s) && s[p.i] > ' ' && s[p.i] < 0x7f {
			p.i++
		}
		if p.i == start || p.i-start > f.max || !p.sp(p.i) {
			p.i = start
			return p.fail(f.name, fmt.Sprintf(`1 to %d printable US-ASCII characters, or "-", and a space`, f.max))
		}
		if v := s[start:p.i]; v != "-" {
			*f.to = v
		}
		p.i++
	}
	if err := p.structuredData(); err != nil {
		return err
	}
	switch {
	case p.i == len(s):
	case s[p.i] == ' ':
		// A message of a lone "-" is read as none, as the go-syslog
		// reader of earlier releases left it (NILVALUE, as in the header).
		if msg := s[p.i+1:]; msg != "-" {
			out.Message = msg
		}
	default:
		return p.fail("structured data", "a space and the message after the last element, or the end of the line")
	}
	return nil
}

// sp reports whether s[i] is a space.
func (p *reader5424) sp(i int) bool { return i < len(p.s) && p.s[i] == ' ' }

// structuredData reads "-" or one or more [SD-ID param="value" …]
// elements into out.StructuredData.
func (p *reader5424) structuredData() error {
	s := p.s
	if p.i < len(s) && s[p.i] == '-' {
		p.i++
		return nil
	}
	if p.i >= len(s) || s[p.i] != '[' {
		return p.fail("structured data", `"-" or elements such as [id@32473 key="value"]`)
	}
	sd := make(map[string]any, 1)
	for p.i < len(s) && s[p.i] == '[' {
		p.i++
		id, ok := p.sdName()
		if !ok {
			return p.failSD(sd, "an SD-ID of 1 to 32 printable US-ASCII characters but '=', ' ', ']' and '\"'")
		}
		if _, dup := sd[id]; dup {
			p.i -= len(id)
			return p.failSD(sd, fmt.Sprintf("an SD-ID that the message has not used yet (%s is there twice)", id))
		}
		params := make(map[string]any)
		for p.i < len(s) && s[p.i] == ' ' {
			p.i++
			name, ok := p.sdName()
			if !ok || p.i+1 >= len(s) || s[p.i] != '=' || s[p.i+1] != '"' {
				return p.failSD(sd, `a parameter such as key="value"`)
			}
			p.i += 2
			value, ok := p.sdValue()
			if !ok {
				return p.failSD(sd, `a parameter value in UTF-8 ending with '"', where '"', '\' and ']' are escaped with '\'`)
			}
			params[name] = value
		}
		if p.i >= len(s) || s[p.i] != ']' {
			return p.failSD(sd, `a space and a parameter, or ']'`)
		}
		p.i++
		sd[id] = params
	}
	p.out.StructuredData = sd
	return nil
}

// sdName reads an SD-ID or a parameter name.
func (p *reader5424) sdName() (string, bool) {
	start := p.i
	for p.i < len(p.s) && p.s[p.i] > ' ' && p.s[p.i] < 0x7f && p.s[p.i] != '=' && p.s[p.i] != ']' && p.s[p.i] != '"' {
		p.i++
	}
	return p.s[start:p.i], p.i > start && p.i-start <= 32
}

// sdValue reads a parameter value up to its closing quote, which it skips,
// and returns it unescaped.
func (p *reader5424) sdValue() (string, bool) {
	s := p.s
	start, escaped := p.i, false
	for ; p.i < len(s); p.i++ {
		switch s[p.i] {
		case '\\':
			if p.i+1 >= len(s) || s[p.i+1] != '"' && s[p.i+1] != ']' && s[p.i+1] != '\\' {
				return "", false
			}
			escaped = true
			p.i++
		case ']':
			return "", false
		case '"':
			v := s[start:p.i]
			if !utf8.ValidString(v) {
				p.i = start
				return "", false
			}
			p.i++
			if escaped {
				v = unescapeSD(v)
			}
			return v, true
		}
	}
	return "", false
}

// unescapeSD drops the backslash of each \", \] and \\ in v.
func unescapeSD(v string) string {
	var b strings.Builder
	b.Grow(len(v))
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) {
			i++
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

// failSD reports a structured data error, keeping the elements read.
func (p *reader5424) failSD(sd map[string]any, want string) error {
	if len(sd) > 0 {
		p.out.StructuredData = sd
	}
	return p.fail("structured data", want)
}

// fail reports the part expected at the reader's position.
func (p *reader5424) fail(part, want string) error {
	found := "the end of the line"
	if p.i < len(p.s) {
		found = fmt.Sprintf("%q", truncate(p.s[p.i:], 24))
	}
	return fmt.Errorf("syslog: %w: RFC 5424 %s at byte %d: want %s, found %s", ErrPartial, part, p.i, want, found)
}

// rfc3339Micro reads the timestamp RFC 5424 allows at the start of s,
// YYYY-MM-DDThh:mm:ss[.f{1,6}](Z|±hh:mm), and returns it in UTC with its
// length.
func rfc3339Micro(s string) (time.Time, int, bool) {
	if len(s) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return time.Time{}, 0, false
	}
	year, ok1 := digits(s[0:4])
	month, ok2 := digits(s[5:7])
	day, ok3 := digits(s[8:10])
	hour, ok4 := digits(s[11:13])
	minute, ok5 := digits(s[14:16])
	sec, ok6 := digits(s[17:19])
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 || sec > 59 {
		return time.Time{}, 0, false
	}
	i, nsec := 19, 0
	if s[i] == '.' {
		i++
		start := i
		for i < len(s) && i-start < 6 && s[i] >= '0' && s[i] <= '9' {
			nsec = nsec*10 + int(s[i]-'0')
			i++
		}
		if i == start {
			return time.Time{}, 0, false
		}
		for n := i - start; n < 9; n++ {
			nsec *= 10
		}
	}
	var zone time.Duration
	switch {
	case i < len(s) && s[i] == 'Z':
		i++
	case len(s)-i >= 6 && s[i+3] == ':':
		var ok bool
		if zone, ok = zoneOffset(s[i:i+3], s[i+4:i+6]); !ok {
			return time.Time{}, 0, false
		}
		i += 6
	default:
		return time.Time{}, 0, false
	}
	t, ok := civilTime(year, time.Month(month), day, hour, minute, sec, nsec, zone)
	return t, i, ok
}
