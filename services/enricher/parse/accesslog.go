package parse

import (
	"fmt"
	"strings"
	"time"
)

// AccessLogFormat names a web server access log format.
type AccessLogFormat uint8

// The access log formats that ParseAccessLog reads. nginx and Apache write
// both the same way.
const (
	// AccessLogCombined is the combined log format, nginx's default
	// (log_format combined) and Apache's "combined" LogFormat:
	//
	//	client ident user [time] "request" status size "referrer" "user agent"
	AccessLogCombined AccessLogFormat = iota
	// AccessLogCommon is the NCSA common log format, Apache's "common":
	// the combined format without referrer and user agent.
	AccessLogCommon
)

// accessLogFormats maps the names a configuration uses to formats.
var accessLogFormats = map[string]AccessLogFormat{"combined": AccessLogCombined, "common": AccessLogCommon}

// ParseAccessLogFormat returns the format called name: "combined" or
// "common". The error wraps ErrInvalidOption.
func ParseAccessLogFormat(name string) (AccessLogFormat, error) {
	if f, ok := accessLogFormats[name]; ok {
		return f, nil
	}
	return 0, fmt.Errorf("access log: %w: format %q: use combined or common", ErrInvalidOption, name)
}

// String returns the format's name.
func (f AccessLogFormat) String() string {
	if f == AccessLogCommon {
		return "common"
	}
	return "combined"
}

// AccessLog is one access log line, read by ParseAccessLog. Its strings are
// parts of the line, unescaped as the server wrote them ("\x22" for a quote
// stays as it is); a part the server wrote as "-" is empty.
type AccessLog struct {
	Client string // the client's address (nginx $remote_addr, Apache %h)
	Ident  string // the identd user (Apache %l); nginx always writes "-"
	User   string // the authenticated user (nginx $remote_user, Apache %u)
	// Time is when the request was received, in UTC.
	Time time.Time
	// Method, Target and Version are the request line's parts, as in
	// "GET /index.html HTTP/1.1" (Version "1.1"). They are empty when the
	// request line has no such parts: "-", or bytes that are not HTTP.
	Method, Target, Version string
	// Status and Size are the response status and body size; -1 when the
	// server wrote "-".
	Status, Size int64
	// Referrer and UserAgent are empty in the common format.
	Referrer, UserAgent string
}

// The attribute names an access log's fields get: the ECS names that the
// grok pattern %{COMBINEDAPACHELOG} gives them, so that the two are
// interchangeable for index mappings and searches.
const (
	AccessLogClientField    = "source.address"
	AccessLogIdentField     = "apache.access.user.identity"
	AccessLogUserField      = "user.name"
	AccessLogMethodField    = "http.request.method"
	AccessLogTargetField    = "url.original"
	AccessLogVersionField   = "http.version"
	AccessLogStatusField    = "http.response.status_code"
	AccessLogSizeField      = "http.response.body.size"
	AccessLogReferrerField  = "http.request.referrer"
	AccessLogUserAgentField = "user_agent.original"
)

// ParseAccessLog reads one line of an nginx or Apache access log in the
// given format, by hand: it costs about as much as copying the line, where
// the grok pattern %{COMBINEDAPACHELOG} runs a regular expression of
// several kilobytes.
//
// Fields are separated by one or more spaces. The request, referrer and
// user agent are in double quotes, inside which a backslash escapes the
// next byte (Apache writes \" for a quote; nginx writes \x22). The time is
// [dd/Mmm/yyyy:hh:mm:ss ±hhmm]. Text after the last field of the format is
// not read, so nginx's "main" format (combined plus "$http_x_forwarded_for")
// and Apache's "combinedio" parse as combined.
//
// A line that is not in the format is an error wrapping ErrSyntax that
// names the byte offset, the part expected and what was found there.
func ParseAccessLog(s string, format AccessLogFormat) (AccessLog, error) {
	end := len(s)
	for end > 0 && (s[end-1] == ' ' || s[end-1] == '\t' || s[end-1] == '\r' || s[end-1] == '\n') {
		end--
	}
	p := accessLogParser{s: s[:end], format: format}
	var a AccessLog
	var ok bool
	if a.Client, ok = p.word(); !ok {
		return AccessLog{}, p.fail("the client address")
	}
	if a.Ident, ok = p.word(); !ok {
		return AccessLog{}, p.fail("the identity (nginx writes -)")
	}
	if a.User, ok = p.word(); !ok {
		return AccessLog{}, p.fail("the user")
	}
	if a.Time, ok = p.time(); !ok {
		return AccessLog{}, p.fail("a time such as [10/Oct/2000:13:55:36 -0700]")
	}
	req, ok := p.quoted()
	if !ok {
		return AccessLog{}, p.fail(`the request in double quotes, such as "GET / HTTP/1.1"`)
	}
	a.Method, a.Target, a.Version = splitRequest(req)
	if a.Status, ok = p.number(); !ok {
		return AccessLog{}, p.fail("the status code")
	}
	if a.Size, ok = p.number(); !ok {
		return AccessLog{}, p.fail("the response size in bytes, or -")
	}
	if format == AccessLogCombined {
		if a.Referrer, ok = p.quoted(); !ok {
			return AccessLog{}, p.fail(`the referrer in double quotes, such as "-"`)
		}
		if a.UserAgent, ok = p.quoted(); !ok {
			return AccessLog{}, p.fail(`the user agent in double quotes`)
		}
	}
	// What follows the format's last field must be separated from it.
	if p.i < len(p.s) && p.s[p.i] != ' ' && p.s[p.i] != '\t' {
		return AccessLog{}, p.fail("a space or the end of the line")
	}
	a.Client, a.Ident, a.User = dash(a.Client), dash(a.Ident), dash(a.User)
	a.Referrer, a.UserAgent = dash(a.Referrer), dash(a.UserAgent)
	return a, nil
}

// dash returns s, or "" for the "-" a server writes for nothing.
func dash(s string) string {
	if s == "-" {
		return ""
	}
	return s
}

// NumFields returns how many fields Each gives.
func (a *AccessLog) NumFields() int {
	n := 0
	for _, s := range [...]string{a.Client, a.Ident, a.User, a.Method, a.Target, a.Version, a.Referrer, a.UserAgent} {
		if s != "" {
			n++
		}
	}
	if a.Status >= 0 {
		n++
	}
	if a.Size >= 0 {
		n++
	}
	return n
}

// Each calls fn with the attribute name and value of each field the line
// has, the names being the AccessLog*Field constants: strings, and int64
// for the status and size. The time is not among them.
func (a *AccessLog) Each(fn func(key string, value any)) {
	putString(fn, AccessLogClientField, a.Client)
	putString(fn, AccessLogIdentField, a.Ident)
	putString(fn, AccessLogUserField, a.User)
	putString(fn, AccessLogMethodField, a.Method)
	putString(fn, AccessLogTargetField, a.Target)
	putString(fn, AccessLogVersionField, a.Version)
	if a.Status >= 0 {
		fn(AccessLogStatusField, a.Status)
	}
	if a.Size >= 0 {
		fn(AccessLogSizeField, a.Size)
	}
	putString(fn, AccessLogReferrerField, a.Referrer)
	putString(fn, AccessLogUserAgentField, a.UserAgent)
}

// putString calls fn(key, value) unless value is empty.
func putString(fn func(key string, value any), key, value string) {
	if value != "" {
		fn(key, value)
	}
}

// Fields returns the fields Each gives, and the time under "timestamp"
// (a time.Time), as a map.
func (a *AccessLog) Fields() map[string]any {
	m := make(map[string]any, a.NumFields()+1)
	a.Each(func(k string, v any) { m[k] = v })
	m["timestamp"] = a.Time
	return m
}

// splitRequest splits a request line the way %{COMBINEDAPACHELOG} does:
// a method of letters, digits and '_', one space, a target without
// spaces, and optionally " HTTP/" and a version number. Anything else
// gives no parts.
func splitRequest(req string) (method, target, version string) {
	i := 0
	for i < len(req) && isWordByte(req[i]) {
		i++
	}
	if i == 0 || i == len(req) || req[i] != ' ' {
		return "", "", ""
	}
	method, req = req[:i], req[i+1:]
	i = 0
	for i < len(req) && !isSpaceByte(req[i]) {
		i++
	}
	if i == 0 {
		return "", "", ""
	}
	target, req = req[:i], req[i:]
	if req == "" {
		return method, target, ""
	}
	v, ok := strings.CutPrefix(req, " HTTP/")
	if !ok || !isDecimal(v) {
		return "", "", ""
	}
	return method, target, v
}

// isSpaceByte reports whether c is what \s matches in a regular expression.
func isSpaceByte(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r' || c == '\v'
}

// isDecimal reports whether s is an unsigned decimal number such as "1.1"
// or "2".
func isDecimal(s string) bool {
	digits, dot := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !dot && digits > 0 && i+1 < len(s):
			dot = true
		default:
			return false
		}
	}
	return digits > 0
}

// accessLogParser walks an access log line field by field.
type accessLogParser struct {
	s      string
	i      int
	format AccessLogFormat
}

// skip skips the spaces before a field, at least one unless the field is
// the line's first.
func (p *accessLogParser) skip() bool {
	start := p.i
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
	return p.i > start || start == 0
}

// word reads a field up to the next space.
func (p *accessLogParser) word() (string, bool) {
	if !p.skip() {
		return "", false
	}
	start := p.i
	for p.i < len(p.s) && p.s[p.i] != ' ' && p.s[p.i] != '\t' {
		p.i++
	}
	return p.s[start:p.i], p.i > start
}

// quoted reads a field in double quotes and returns what is between them.
func (p *accessLogParser) quoted() (string, bool) {
	if !p.skip() || p.i >= len(p.s) || p.s[p.i] != '"' {
		return "", false
	}
	start := p.i + 1
	// Most quoted fields hold no backslash: find the quote directly.
	if q := strings.IndexByte(p.s[start:], '"'); q >= 0 && strings.IndexByte(p.s[start:start+q], '\\') < 0 {
		p.i = start + q + 1
		return p.s[start : start+q], true
	}
	for j := start; j < len(p.s); j++ {
		switch p.s[j] {
		case '\\':
			j++
		case '"':
			p.i = j + 1
			return p.s[start:j], true
		}
	}
	return "", false
}

// number reads a decimal field of at most 18 digits, or "-" as -1.
func (p *accessLogParser) number() (int64, bool) {
	if !p.skip() {
		return 0, false
	}
	if p.i < len(p.s) && p.s[p.i] == '-' && (p.i+1 == len(p.s) || p.s[p.i+1] == ' ' || p.s[p.i+1] == '\t') {
		p.i++
		return -1, true
	}
	var n int64
	start := p.i
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' && p.i-start < 18 {
		n = n*10 + int64(p.s[p.i]-'0')
		p.i++
	}
	if p.i == start || p.i < len(p.s) && p.s[p.i] != ' ' && p.s[p.i] != '\t' {
		p.i = start
		return 0, false
	}
	return n, true
}

// accessTimeLen is the length of "[10/Oct/2000:13:55:36 -0700]".
const accessTimeLen = 28

// time reads [dd/Mmm/yyyy:hh:mm:ss ±hhmm].
func (p *accessLogParser) time() (time.Time, bool) {
	if !p.skip() || len(p.s)-p.i < accessTimeLen {
		return time.Time{}, false
	}
	s := p.s[p.i : p.i+accessTimeLen]
	if s[0] != '[' || s[3] != '/' || s[7] != '/' || s[12] != ':' || s[15] != ':' || s[18] != ':' || s[21] != ' ' || s[27] != ']' {
		return time.Time{}, false
	}
	day, ok1 := digits(s[1:3])
	year, ok2 := digits(s[8:12])
	hour, ok3 := digits(s[13:15])
	minute, ok4 := digits(s[16:18])
	sec, ok5 := digits(s[19:21])
	zone, ok6 := zoneOffset(s[22:25], s[25:27])
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 {
		return time.Time{}, false
	}
	t, ok := civilTime(year, monthOf(s[4:7]), day, hour, minute, sec, 0, zone)
	if ok {
		p.i += accessTimeLen
	}
	return t, ok
}

// civilTime returns the instant of a date and clock read from text in a
// zone offset east of UTC, in UTC, or false when a part is out of range
// (month 0, 31 April, hour 24, minute 60). A second of 60, a leap second,
// is the next minute's first.
func civilTime(year int, month time.Month, day, hour, minute, sec, nsec int, zone time.Duration) (time.Time, bool) {
	if month < time.January || month > time.December || hour > 23 || minute > 59 || sec > 60 {
		return time.Time{}, false
	}
	t := time.Date(year, month, day, hour, minute, 0, nsec, time.UTC)
	if t.Day() != day {
		return time.Time{}, false // 31 April, 29 February of a common year
	}
	// Seconds are added, not given to time.Date, so that the day is
	// checked alone.
	return t.Add(time.Duration(sec)*time.Second - zone), true
}

// zoneOffset reads a zone offset written as a sign and hours ("+02")
// and minutes ("00").
func zoneOffset(signHours, minutes string) (time.Duration, bool) {
	h, ok1 := digits(signHours[1:])
	m, ok2 := digits(minutes)
	if !ok1 || !ok2 || h > 23 || m > 59 || signHours[0] != '+' && signHours[0] != '-' {
		return 0, false
	}
	zone := time.Duration(h)*time.Hour + time.Duration(m)*time.Minute
	if signHours[0] == '-' {
		zone = -zone
	}
	return zone, true
}

// digits reads a fixed-width unsigned decimal.
func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

// monthOf returns the month of a three-letter English abbreviation in any
// case, or 0.
func monthOf(s string) time.Month {
	if len(s) != 3 {
		return 0
	}
	var b [3]byte
	for i := range b {
		b[i] = s[i] | 0x20 // ASCII lower case; other bytes fail below
	}
	switch string(b[:]) {
	case "jan":
		return time.January
	case "feb":
		return time.February
	case "mar":
		return time.March
	case "apr":
		return time.April
	case "may":
		return time.May
	case "jun":
		return time.June
	case "jul":
		return time.July
	case "aug":
		return time.August
	case "sep":
		return time.September
	case "oct":
		return time.October
	case "nov":
		return time.November
	case "dec":
		return time.December
	}
	return 0
}

// fail reports the part expected at the parser's position.
func (p *accessLogParser) fail(want string) error {
	found := "the end of the line"
	if p.i < len(p.s) {
		found = fmt.Sprintf("%q", truncate(p.s[p.i:], 24))
		if p.s[p.i] == '"' {
			found += ", a quote that is not closed"
		}
	}
	return fmt.Errorf("access log: %w at byte %d: want %s, found %s (is the server's log format %s?)",
		ErrSyntax, p.i, want, found, p.format)
}
