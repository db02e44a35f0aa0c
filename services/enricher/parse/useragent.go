package parse

import (
	"maps"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/mileusna/useragent"
)

// maxUserAgent bounds the user-agent text parsed; real ones are a few hundred
// bytes, and the parser's token lookups grow with the number of tokens.
const maxUserAgent = 2048

// UserAgent parses a User-Agent header with github.com/mileusna/useragent
// and returns name, version, os, os_version (strings, left out when
// unknown), device ("desktop", "mobile", "tablet", "bot" or "unknown") and
// is_bot. It returns an empty map for an empty or blank string and for "-",
// which access logs write for a missing header. Only the first 2 KiB of s
// are read.
func UserAgent(s string) map[string]any {
	s = userAgentText(s)
	if s == "" {
		return map[string]any{}
	}
	return parseUserAgent(s)
}

// userAgentText returns what of s UserAgent reads: s without surrounding
// spaces and cut to maxUserAgent, or "" for a missing header.
func userAgentText(s string) string {
	s = strings.TrimSpace(s)
	if s == "-" {
		return ""
	}
	if len(s) > maxUserAgent {
		i := maxUserAgent
		for i > 0 && !utf8.RuneStart(s[i]) {
			i-- // do not cut a character in two
		}
		s = s[:i]
	}
	return s
}

// UserAgentCache is UserAgent with a memory of the user agents it parsed:
// a site's traffic comes from few distinct browsers and bots, and a map
// lookup costs a fraction of a parse (Logstash's useragent filter keeps
// such a cache too). It holds at most its size of user agents, and forgets
// them all when full. It is safe for concurrent use.
type UserAgentCache struct {
	mu   sync.Mutex
	size int
	m    map[string]map[string]any
}

// NewUserAgentCache returns a cache of at most size user agents.
func NewUserAgentCache(size int) *UserAgentCache {
	return &UserAgentCache{size: size, m: make(map[string]map[string]any)}
}

// Parse returns what UserAgent(s) returns, as a map of the caller's own.
func (c *UserAgentCache) Parse(s string) map[string]any {
	s = userAgentText(s)
	if s == "" {
		return map[string]any{}
	}
	c.mu.Lock()
	fields, ok := c.m[s]
	c.mu.Unlock()
	if !ok {
		fields = parseUserAgent(s)
		c.mu.Lock()
		if len(c.m) >= c.size {
			clear(c.m)
		}
		// A copy of the key: s is a part of an event's text, which the
		// cache must not keep.
		c.m[strings.Clone(s)] = fields
		c.mu.Unlock()
	}
	return maps.Clone(fields)
}

// parseUserAgent parses s, which userAgentText returned.
func parseUserAgent(s string) map[string]any {
	ua := useragent.Parse(s)
	out := map[string]any{"is_bot": ua.Bot}
	setNonEmpty(out, "name", ua.Name)
	setNonEmpty(out, "version", ua.Version)
	setNonEmpty(out, "os", ua.OS)
	setNonEmpty(out, "os_version", ua.OSVersion)
	switch {
	case ua.Bot:
		out["device"] = "bot"
	case ua.Tablet:
		out["device"] = "tablet"
	case ua.Mobile:
		out["device"] = "mobile"
	case ua.Desktop:
		out["device"] = "desktop"
	default:
		out["device"] = "unknown"
	}
	return out
}

func setNonEmpty(out map[string]any, key, v string) {
	if v != "" {
		out[key] = v
	}
}
