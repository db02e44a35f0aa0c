package egress

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestRefusesInternalTargets is the SSRF table: each target is refused
// before a packet is sent to it, with an error that names the address, why
// and how to allow it.
func TestRefusesInternalTargets(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) }))
	defer ok.Close()
	_, port, _ := net.SplitHostPort(ok.Listener.Addr().String())
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://127.0.0.1:"+port+"/", http.StatusTemporaryRedirect)
	}))
	defer redirect.Close()

	strict := Guard{}.Client(5 * time.Second)
	// The redirecting receiver is allowed (so its answer is seen); its
	// redirect to loopback is still not followed.
	allowRedirector := Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}.Client(5 * time.Second)
	for _, tc := range []struct {
		name, url string
		client    *http.Client
		want      error
		text      string
	}{
		{"loopback", "http://127.0.0.1:" + port + "/", strict, ErrBlocked, "127.0.0.1:" + port + " (loopback)"},
		{"IPv6 loopback", "http://[::1]:" + port + "/", strict, ErrBlocked, "(loopback)"},
		{"private", "http://10.0.0.1:" + port + "/", strict, ErrBlocked, "10.0.0.1:" + port + " (private)"},
		{"metadata", "http://169.254.169.254/latest/meta-data/", strict, ErrBlocked, "(the cloud metadata service)"},
		{"a host name resolving to loopback", "http://localhost:" + port + "/", strict, ErrBlocked, "(loopback)"},
		{"a redirect to loopback", redirect.URL + "/hook", allowRedirector, ErrRedirect, "redirect to http://127.0.0.1:" + port},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := tc.client.Get(tc.url)
			if err == nil {
				resp.Body.Close()
				t.Fatalf("GET %s answered %d; want it refused", tc.url, resp.StatusCode)
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v does not wrap %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.text) {
				t.Errorf("error %q lacks %q", err, tc.text)
			}
			if tc.want == ErrBlocked && !strings.Contains(err.Error(), "allow_cidrs") {
				t.Errorf("error %q does not say how to allow it", err)
			}
		})
	}
	t.Run("allowed range", func(t *testing.T) {
		c := Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}.Client(5 * time.Second)
		resp, err := c.Get(ok.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	})
}

func TestClassify(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1": "loopback", "::1": "loopback", "10.1.2.3": "private", "172.16.0.1": "private", "192.168.1.1": "private",
		"169.254.169.254": "the cloud metadata service", "169.254.1.1": "link-local", "fd00:ec2::254": "the cloud metadata service",
		"fc00::1": "private", "fe80::1": "link-local", "0.0.0.0": "unspecified", "::": "unspecified", "224.0.0.1": "multicast",
		"::ffff:127.0.0.1": "loopback", "100.64.0.1": "carrier-grade NAT (shared address space)", "255.255.255.255": "broadcast",
		"64:ff9b::a00:1": "NAT64, which can embed any IPv4 address",
		"93.184.216.34":  "", "2606:2800:220:1::1": "",
	} {
		if got := Classify(netip.MustParseAddr(addr)); got != want {
			t.Errorf("%s: %q, want %q", addr, got, want)
		}
	}
}

func TestDialContextRefusesBeforeConnecting(t *testing.T) {
	_, err := Guard{}.DialContext(context.Background(), time.Second, "10.0.0.1:25")
	var be *BlockedError
	if !errors.As(err, &be) || be.Reason != "private" {
		t.Fatalf("err = %v", err)
	}
}
