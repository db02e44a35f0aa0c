// Package egress guards connections to receivers that configuration names
// (webhook, Slack, Alertmanager and SMTP addresses) against server-side
// request forgery: a receiver URL must not reach the notifier's own
// machine, its private network or a cloud metadata service unless the
// receiver explicitly allows that range.
//
// The check runs at dial time on the address actually connected to
// (net.Dialer.Control), after DNS resolution, so a host name that resolves
// to a loopback address, or that is re-pointed there after the
// configuration was checked (DNS rebinding), is refused as well. HTTP
// redirects are never followed: a receiver that answers with one is
// reported, since following it would let the receiver pick the target.
package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// blocked are the ranges refused unless a receiver allows them, with the
// reason an error gives.
var blocked = []struct {
	prefix netip.Prefix
	reason string
}{
	{netip.MustParsePrefix("169.254.169.254/32"), "the cloud metadata service"},
	{netip.MustParsePrefix("fd00:ec2::254/128"), "the cloud metadata service"},
	{netip.MustParsePrefix("0.0.0.0/8"), "unspecified (\"this network\")"},
	{netip.MustParsePrefix("100.64.0.0/10"), "carrier-grade NAT (shared address space)"},
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol assignments"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
	{netip.MustParsePrefix("64:ff9b::/96"), "NAT64, which can embed any IPv4 address"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "local-use NAT64"},
}

// Classify returns why ip may not be reached by default, or "" when it may.
func Classify(ip netip.Addr) string {
	ip = ip.Unmap()
	switch {
	case ip.IsLoopback():
		return "loopback"
	case ip.IsUnspecified():
		return "unspecified"
	case ip.IsLinkLocalUnicast():
		for _, b := range blocked[:2] {
			if b.prefix.Contains(ip) {
				return b.reason
			}
		}
		return "link-local"
	case ip.IsMulticast(), ip.IsLinkLocalMulticast(), ip.IsInterfaceLocalMulticast():
		return "multicast"
	case ip.IsPrivate():
		if blocked[1].prefix.Contains(ip) {
			return blocked[1].reason
		}
		return "private"
	}
	if ip.Is4() && ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return "broadcast"
	}
	for _, b := range blocked {
		if b.prefix.Contains(ip) {
			return b.reason
		}
	}
	return ""
}

// ErrBlocked is wrapped by every refusal, so callers classify it with
// errors.Is: a blocked address is a configuration problem, never retried.
var ErrBlocked = errors.New("address not allowed for receivers")

// BlockedError is a refused connection.
type BlockedError struct {
	Addr   string // the address dialed, ip:port
	Reason string // loopback, private, the cloud metadata service, …
}

func (e *BlockedError) Error() string {
	return fmt.Sprintf("refusing to connect to %s (%s): receivers may not reach internal addresses; "+
		"if this receiver is meant to be internal, list its range in the receiver's allow_cidrs (e.g. %s)",
		e.Addr, e.Reason, suggest(e.Addr))
}

// Unwrap makes errors.Is(err, ErrBlocked) true.
func (e *BlockedError) Unwrap() error { return ErrBlocked }

func suggest(addr string) string {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return "10.0.0.0/8"
	}
	ip := ap.Addr().Unmap()
	return netip.PrefixFrom(ip, ip.BitLen()).String()
}

// Guard decides which addresses a receiver may connect to.
type Guard struct {
	// Allow lists ranges the receiver may reach even though they are
	// internal.
	Allow []netip.Prefix
}

// ParseAllow parses CIDRs (10.1.0.0/16) or single addresses.
func ParseAllow(ss []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range ss {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, fmt.Errorf("%q is not a CIDR or an address", s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// Check returns a *BlockedError when addr (ip:port) may not be reached.
func (g Guard) Check(addr string) error {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return &BlockedError{Addr: addr, Reason: "not an IP address"}
	}
	ip := ap.Addr().Unmap()
	for _, p := range g.Allow {
		if p.Contains(ip) {
			return nil
		}
	}
	if r := Classify(ip); r != "" {
		return &BlockedError{Addr: addr, Reason: r}
	}
	return nil
}

// Dialer returns a dialer that refuses blocked addresses after resolution,
// before any packet is sent to them.
func (g Guard) Dialer(timeout time.Duration) *net.Dialer {
	return &net.Dialer{
		Timeout:   timeout,
		KeepAlive: 30 * time.Second,
		Control: func(_, address string, _ syscall.RawConn) error {
			return g.Check(address)
		},
	}
}

// ErrRedirect is wrapped by the error of a request answered with a
// redirect, which is never followed.
var ErrRedirect = errors.New("redirects are not followed")

// Client returns an HTTP client that dials through the guard, follows no
// redirect and uses no proxy from the environment (a proxy would make the
// dial-time check meaningless).
func (g Guard) Client(timeout time.Duration) *http.Client {
	d := g.Dialer(timeout)
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(req *http.Request, _ []*http.Request) error {
			return fmt.Errorf("the receiver answered with a redirect to %s: %w (point the receiver at the final URL)", req.URL.Redacted(), ErrRedirect)
		},
	}
}

// DialContext dials addr through the guard (for SMTP).
func (g Guard) DialContext(ctx context.Context, timeout time.Duration, addr string) (net.Conn, error) {
	return g.Dialer(timeout).DialContext(ctx, "tcp", addr)
}
