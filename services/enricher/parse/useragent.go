package parse

import (
	"strings"
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
	s = strings.TrimSpace(s)
	if s == "" || s == "-" {
		return map[string]any{}
	}
	if len(s) > maxUserAgent {
		i := maxUserAgent
		for i > 0 && !utf8.RuneStart(s[i]) {
			i-- // do not cut a character in two
		}
		s = s[:i]
	}
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
