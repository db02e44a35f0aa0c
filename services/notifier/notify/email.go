package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/smtp"
	"strings"
	"time"

	"github.com/jetlog/jetlog/services/notifier/egress"
)

// email sends a plain-text message over SMTP, upgrading the connection
// with STARTTLS (required unless require_tls is false).
type email struct {
	base
	smarthost, hello string
	from             string
	to               []string
	user, password   string
	requireTLS       bool
	tls              *tls.Config
	subject, text    *Body
	guard            egress.Guard
	timeout          time.Duration
}

var _ Integration = (*email)(nil)

func (e *email) Kind() string   { return "email" }
func (e *email) Target() string { return strings.Join(e.to, ",") + " via " + e.smarthost }

// ErrNoSTARTTLS is returned when the server does not offer STARTTLS and
// require_tls is on.
var ErrNoSTARTTLS = errors.New("the SMTP server does not offer STARTTLS")

func (e *email) Send(ctx context.Context, n *Notification) error {
	data := newData(n, e.externalURL)
	subject, err := e.subject.Execute(data)
	if err != nil {
		return Permanent(fmt.Errorf("email subject template: %w", err))
	}
	text, err := e.text.Execute(data)
	if err != nil {
		return Permanent(fmt.Errorf("email text template: %w", err))
	}
	msg, err := e.message(n, subject, text)
	if err != nil {
		return Permanent(err)
	}
	conn, err := e.guard.DialContext(ctx, e.timeout, e.smarthost)
	if err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	} else {
		_ = conn.SetDeadline(time.Now().Add(e.timeout))
	}
	host, _, _ := net.SplitHostPort(e.smarthost)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return err
	}
	defer c.Close()
	if err := c.Hello(e.hello); err != nil {
		return err
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		cfg := e.tls.Clone()
		if cfg.ServerName == "" {
			cfg.ServerName = host
		}
		if err := c.StartTLS(cfg); err != nil {
			return fmt.Errorf("STARTTLS with %s: %w", e.smarthost, err)
		}
	} else if e.requireTLS {
		return Permanent(fmt.Errorf("%w at %s: mail would travel in clear (set require_tls: false to allow that)", ErrNoSTARTTLS, e.smarthost))
	}
	if e.user != "" {
		// net/smtp refuses PLAIN over a connection without TLS, except to
		// localhost.
		if err := c.Auth(smtp.PlainAuth("", e.user, e.password, host)); err != nil {
			return err
		}
	}
	if err := c.Mail(e.from); err != nil {
		return err
	}
	for _, rcpt := range e.to {
		if err := c.Rcpt(rcpt); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// message builds the RFC 5322 message. Its Message-ID carries the
// notification id, which mail systems use to drop a repeated delivery.
func (e *email) message(n *Notification, subject, text string) ([]byte, error) {
	var b bytes.Buffer
	domain := "jetlog"
	if i := strings.LastIndexByte(e.from, '@'); i >= 0 {
		domain = strings.Trim(e.from[i+1:], "> ")
	}
	h := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	h("From", e.from)
	h("To", strings.Join(e.to, ", "))
	h("Subject", mime.QEncoding.Encode("utf-8", strings.TrimSpace(subject)))
	h("Date", n.At.Format(time.RFC1123Z))
	h("Message-ID", "<"+n.ID+"@"+domain+">")
	h(HeaderNotificationID, n.ID)
	h("MIME-Version", "1.0")
	h("Content-Type", "text/plain; charset=utf-8")
	h("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	if _, err := qp.Write([]byte(text)); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
