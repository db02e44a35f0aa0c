package parse

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
)

func TestUserAgent(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want map[string]any
	}{
		{"desktop Chrome", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
			map[string]any{"name": "Chrome", "version": "120.0.0.0", "os": "Windows", "os_version": "10.0", "device": "desktop", "is_bot": false}},
		{"iPhone", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
			map[string]any{"name": "Safari", "version": "17.1", "os": "iOS", "os_version": "17.1", "device": "mobile", "is_bot": false}},
		{"iPad", "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
			map[string]any{"name": "Safari", "version": "16.6", "os": "iOS", "os_version": "16.6", "device": "tablet", "is_bot": false}},
		{"Googlebot", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
			map[string]any{"name": "Googlebot", "version": "2.1", "device": "bot", "is_bot": true}},
		{"curl", "curl/8.5.0", map[string]any{"name": "curl", "version": "8.5.0", "device": "unknown", "is_bot": false}},
		{"empty", "", map[string]any{}},
		{"blank", "  ", map[string]any{}},
		{"dash from an access log", "-", map[string]any{}},
		{"NUL bytes", "\x00\x00", map[string]any{"name": "\x00\x00", "device": "unknown", "is_bot": false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := UserAgent(tt.in); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestUserAgentCache(t *testing.T) {
	c := NewUserAgentCache(2)
	agents := []string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
		"curl/8.5.0", " curl/8.5.0 ", "Googlebot/2.1 (+http://www.google.com/bot.html)", "-", "",
	}
	for range 3 {
		for _, ua := range agents {
			got := c.Parse(ua)
			if want := UserAgent(ua); !reflect.DeepEqual(got, want) {
				t.Fatalf("%q: cached %v, parsed %v", ua, got, want)
			}
			got["name"] = "changed by a later stage" // must not reach the cache
		}
	}
	if len(c.m) > 2 {
		t.Errorf("%d user agents kept, limit 2", len(c.m))
	}
}

func TestUserAgentCacheConcurrent(t *testing.T) {
	c := NewUserAgentCache(8)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				ua := fmt.Sprintf("agent-%d/%d.0", (g+i)%12, i%3)
				if got := c.Parse(ua); got["name"] != fmt.Sprintf("agent-%d", (g+i)%12) {
					t.Errorf("%s: %v", ua, got)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestUserAgentLarge(t *testing.T) {
	for _, s := range []string{
		strings.Repeat("Mozilla/5.0 (", 1<<20),
		strings.Repeat("é", 5<<20), // cut at 2 KiB must not split a character
		strings.Repeat("\xff", 10<<20),
	} {
		got := UserAgent(s)
		if _, ok := got["device"]; !ok {
			t.Errorf("no device for %q…", s[:20])
		}
		if n, ok := got["name"].(string); ok && len(n) > maxUserAgent {
			t.Errorf("name of %d bytes", len(n))
		}
	}
}

func FuzzUserAgent(f *testing.F) {
	for _, s := range []string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
		"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36", "Googlebot/2.1 (+http://www.google.com/bot.html)",
		"(", ")", "[;]", "a/b/c", "http://", "://", ":",
	} {
		f.Add(s)
	}
	devices := map[any]bool{"desktop": true, "mobile": true, "tablet": true, "bot": true, "unknown": true}
	f.Fuzz(func(t *testing.T, s string) {
		m := UserAgent(s)
		if len(m) == 0 {
			return
		}
		if !devices[m["device"]] {
			t.Fatalf("device %v", m["device"])
		}
		if _, ok := m["is_bot"].(bool); !ok {
			t.Fatalf("is_bot %v", m["is_bot"])
		}
	})
}
