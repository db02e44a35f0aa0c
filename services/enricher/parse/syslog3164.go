package parse

import (
	"fmt"
	"strings"
	"time"
)

// parse3164 reads an RFC 3164 message after its <PRI>, which ends at
// s[i]. The grammar is the RFC's, with the liberties real senders take:
//
//	<PRI> SP* TIMESTAMP SP+ [HOSTNAME SP+] [TAG["[" PID "]"] ":" [SP]] MSG
//
// TIMESTAMP is "Mmm dd hh:mm:ss" (dd is " 5", "05" or "5"), optionally
// with a fraction of a second, or an RFC 3339 time. HOSTNAME is the first
// word after it when a space follows; "-" means none. TAG is up to 48 printable
// characters but space, ':' and '[', and counts only when ':' and a space
// (or the end) follow it or its [PID]; otherwise what follows the host is
// all message. The message is the rest of the line, as it is.
//
// Only a missing timestamp is an error; the message is then the text
// after the PRI.
func parse3164(s string, i int, opts SyslogOptions, out *SyslogMessage) error {
	priLen := i
	for i < len(s) && s[i] == ' ' {
		i++
	}
	t, n, ok := stamp3164(s[i:], opts)
	if !ok {
		if t, n, ok = rfc3339Micro(s[i:]); !ok {
			out.Message = s[priLen:]
			return fmt.Errorf("syslog: %w: no timestamp at byte %d after <PRI>: want RFC 3164 \"Mmm dd hh:mm:ss host tag[pid]: message\" or an RFC 3339 timestamp, found %q",
				ErrPartial, priLen, truncate(s[priLen:], 20))
		}
	}
	out.Timestamp = t
	i += n
	if i < len(s) && s[i] != ' ' {
		// Text glued to the time: no header follows, only a message.
		out.Message = s[i:]
		return nil
	}
	for i < len(s) && s[i] == ' ' {
		i++
	}
	rest := s[i:]
	if tag, pid, msg, ok := cutTag(rest); ok {
		out.Appname, out.ProcID, out.Message = dash(tag), dash(pid), msg
		return nil
	}
	host, after, spaced := strings.Cut(rest, " ")
	if !spaced || !isHostname(host) {
		out.Message = rest
		return nil
	}
	out.Hostname = dash(host)
	after = strings.TrimLeft(after, " ")
	if tag, pid, msg, ok := cutTag(after); ok {
		out.Appname, out.ProcID, out.Message = dash(tag), dash(pid), msg
		return nil
	}
	out.Message = after
	return nil
}

// isHostname reports whether s is 1 to 255 printable US-ASCII characters
// but ':'.
func isHostname(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f || s[i] == ':' {
			return false
		}
	}
	return true
}

// cutTag reads TAG["[" PID "]"] ":" at the start of s, and the one space
// after it, and returns the tag, the PID and what follows.
func cutTag(s string) (tag, pid, msg string, ok bool) {
	i := 0
	for i < len(s) && i < 48 && s[i] > ' ' && s[i] < 0x7f && s[i] != ':' && s[i] != '[' {
		i++
	}
	if i == 0 || i == len(s) {
		return "", "", "", false
	}
	tag, s = s[:i], s[i:]
	if s[0] == '[' {
		end := strings.IndexAny(s[1:], "[]")
		if end < 0 || s[1+end] != ']' {
			return "", "", "", false
		}
		pid, s = s[1:1+end], s[2+end:]
	}
	if s == "" || s[0] != ':' {
		return "", "", "", false
	}
	s = s[1:]
	if s != "" && s[0] != ' ' {
		return "", "", "", false
	}
	if s != "" {
		s = s[1:]
	}
	return tag, pid, s, true
}

// stamp3164 reads "Mmm dd hh:mm:ss[.fraction]" at the start of s and
// returns it in UTC with its length, the year and zone from opts.
func stamp3164(s string, opts SyslogOptions) (time.Time, int, bool) {
	if len(s) < 14 || s[3] != ' ' {
		return time.Time{}, 0, false
	}
	month := monthOf(s[:3])
	if month == 0 || s[0] < 'A' || s[0] > 'Z' || s[1] < 'a' || s[2] < 'a' {
		return time.Time{}, 0, false // Mmm, as RFC 3164 writes it
	}
	// The day is " 5", "05", or "5" from senders that do not pad it.
	i := 4
	if s[i] == ' ' {
		i++
	}
	day := 0
	for start := i; i < len(s) && i-start < 2 && s[i] >= '0' && s[i] <= '9'; i++ {
		day = day*10 + int(s[i]-'0')
	}
	if day < 1 || day > 31 || len(s)-i < 9 || s[i] != ' ' || s[i+3] != ':' || s[i+6] != ':' {
		return time.Time{}, 0, false
	}
	hour, ok1 := digits(s[i+1 : i+3])
	minute, ok2 := digits(s[i+4 : i+6])
	sec, ok3 := digits(s[i+7 : i+9])
	i += 9
	nsec := 0
	if i+1 < len(s) && s[i] == '.' && s[i+1] >= '0' && s[i+1] <= '9' {
		i++
		n := 0 // digits read; past nanoseconds they are dropped
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			if n < 9 {
				nsec = nsec*10 + int(s[i]-'0')
				n++
			}
		}
		for ; n < 9; n++ {
			nsec *= 10
		}
	}
	// 29 February is checked against a leap year: the year comes later.
	if _, ok := civilTime(2000, month, day, hour, minute, sec, 0, 0); !ok || !ok1 || !ok2 || !ok3 || sec > 59 {
		return time.Time{}, 0, false
	}
	t := time.Date(0, month, day, hour, minute, sec, nsec, time.UTC)
	return syslogStamp(t, opts).UTC(), i, true
}
