package forward

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jetlog/jetlog/services/gateway/ingest"
)

// TestBufferBudgetBoundsMemoryAcrossConnections opens more connections than
// the server-wide buffer budget can serve, each sending most of a large
// message and then stalling: the connections that cannot get room are
// closed (their clients would resend) instead of each growing a buffer.
func TestBufferBudgetBoundsMemoryAcrossConnections(t *testing.T) {
	const msgBytes = 1 << 20
	e := newEnv(t, func(c *Config) {
		c.MaxBufferBytes = 4*(msgBytes+readSlack) + 64<<10
		c.AckTimeout = time.Second
		c.IdleTimeout = 2 * time.Second
	}, func(p *ingest.PublisherConfig) {
		p.Limits.MaxRequestBytes = msgBytes
		p.Limits.MaxRecordBytes = msgBytes
	})
	// A Message-mode entry whose record string is 900 KiB, cut before its end.
	body := strings.Repeat("x", 900<<10)
	head := []byte{0x93, 0xa3, 'a', '.', 'b', 0xce, 0x69, 0x00, 0x00, 0x00, 0x81, 0xa3, 'l', 'o', 'g', 0xdb}
	head = append(head, byte(len(body)>>24), byte(len(body)>>16), byte(len(body)>>8), byte(len(body)))
	var conns []net.Conn
	for range 8 {
		c, err := net.Dial("tcp", e.srv.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		if _, err := c.Write(append(append([]byte(nil), head...), body[:800<<10]...)); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	closed := 0
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
		buf := make([]byte, 1)
		if _, err := c.Read(buf); err != nil && !isTimeout(err) {
			closed++
		}
	}
	// Each stalled connection holds at most ~1 MiB of the 4 MiB budget:
	// at most four fit, the rest are turned away.
	if closed < 4 {
		t.Errorf("%d of 8 stalled connections closed, want at least 4 refused for lack of room", closed)
	}
	e.logs.waitLog(t, "no room to receive a message")
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
