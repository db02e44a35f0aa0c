package notifier_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/jetlog/jetlog/libs/alert"
	"github.com/jetlog/jetlog/libs/testkit"
	"github.com/jetlog/jetlog/libs/topology"
	"github.com/jetlog/jetlog/services/notifier/delivery"
)

// selfSigned makes a certificate for 127.0.0.1 signed by its own key, and
// writes it to a PEM file a client can trust it by.
func selfSigned(t *testing.T) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "smtp.test"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "smtp.pem")
	if err := os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, f
}

// received mail, as the SMTP server saw it.
type smtpMail struct {
	From string
	To   []string
	Data []byte
	// TLS says the session ran over TLS (STARTTLS) when the mail was sent.
	TLS bool
	// User is who authenticated, if anyone.
	User string
}

// smtpServer is a real SMTP server (emersion/go-smtp) on loopback that
// keeps what it is sent. With a certificate it offers STARTTLS and takes
// PLAIN authentication only over TLS; rcpt, when set, answers the n-th
// RCPT (1-based).
type smtpServer struct {
	Addr string
	mu   sync.Mutex
	mail []smtpMail
	rcpt func(n int) error
	n    int
}

const smtpPassword = "s3cr3t-smtp-pass"

func startSMTP(t *testing.T, cert *tls.Certificate, rcpt func(n int) error) *smtpServer {
	t.Helper()
	s := &smtpServer{rcpt: rcpt}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &smtpSession{s: s, c: c}, nil }))
	srv.Domain = "smtp.test"
	srv.ErrorLog = log.New(io.Discard, "", 0) // a client that hangs up is part of some tests
	srv.ReadTimeout, srv.WriteTimeout = time.Minute, time.Minute
	if cert != nil {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*cert}, MinVersion: tls.VersionTLS12}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = ln.Addr().String()
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

func (s *smtpServer) all() []smtpMail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.mail)
}

func (s *smtpServer) wait(t *testing.T, n int) []smtpMail {
	t.Helper()
	testkit.Poll(t, 30*time.Second, func() (bool, string) {
		got := len(s.all())
		return got >= n, fmt.Sprintf("%d mails, want %d", got, n)
	})
	return s.all()
}

type smtpSession struct {
	s   *smtpServer
	c   *smtp.Conn
	cur smtpMail
}

func (ss *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (ss *smtpSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != "jetlog" || pass != smtpPassword {
			return errors.New("invalid credentials")
		}
		ss.cur.User = user
		return nil
	}), nil
}

func (ss *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	_, ss.cur.TLS = ss.c.TLSConnectionState()
	ss.cur.From = from
	return nil
}

func (ss *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.s.mu.Lock()
	ss.s.n++
	n, answer := ss.s.n, ss.s.rcpt
	ss.s.mu.Unlock()
	if answer != nil {
		if err := answer(n); err != nil {
			return err
		}
	}
	ss.cur.To = append(ss.cur.To, to)
	return nil
}

func (ss *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m := ss.cur
	m.Data = b
	ss.s.mu.Lock()
	ss.s.mail = append(ss.s.mail, m)
	ss.s.mu.Unlock()
	return nil
}

func (ss *smtpSession) Reset()        { ss.cur = smtpMail{User: ss.cur.User} }
func (ss *smtpSession) Logout() error { return nil }

// notifyByEmail runs a notifier whose receiver mails through the SMTP
// server at addr (extra: more keys of the email integration) and lets it
// notify alert a.
func notifyByEmail(t *testing.T, addr, extra string, a *alert.Alert) *env {
	t.Helper()
	e := start(t, testkit.StartNATS(t), emailConfig(addr, extra))
	e.publish(a)
	e.held(1, 1)
	e.advance(30*time.Second, 1)
	return e
}

// checkout is the alert the email tests notify.
func checkout() *alert.Alert {
	return mkAlert("HighErrors", "critical", alert.StateFiring, map[string]string{"service": "checkout"})
}

// mailText decodes a text message's quoted-printable body, with the
// CRLF line ends of mail turned into "\n".
func mailText(t *testing.T, msg *mail.Message) string {
	t.Helper()
	b, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(string(b), "\r\n", "\n")
}

// emailConfig is the receiver "hook" with one email integration to the
// SMTP server at addr; extra adds keys to it.
func emailConfig(addr, extra string) string {
	return hookConfig("", fmt.Sprintf(`
    email_configs:
      - to: ["On-call <oncall@example.com>", db-team@example.com]
        from: "jetlog <jetlog@example.com>"
        smarthost: %s
        allow_cidrs: [127.0.0.0/8]
%s`, addr, extra))
}

// TestEmailOverSTARTTLS: the mail goes through a real SMTP server that
// offers STARTTLS on a self-signed certificate, which the notifier
// verifies against its ca_file; authentication and the message travel
// over TLS; the envelope carries bare addresses; the headers say who,
// what and which notification (Message-ID from the notification id); the
// subject and body are the receiver's templates.
func TestEmailOverSTARTTLS(t *testing.T) {
	cert, caFile := selfSigned(t)
	srv := startSMTP(t, &cert, nil)
	a := mkAlert("HighErrors", "critical", alert.StateFiring, map[string]string{"service": "checkout"}, "site", "Zürich")
	a.Value, a.Threshold = 0.25, 0.05
	e := notifyByEmail(t, srv.Addr, fmt.Sprintf(`
        auth_username: jetlog
        auth_password_file: %s
        tls: {ca_file: %s}
        subject: '{{ .Status | toUpper }}: {{ .CommonLabels.alertname }} in {{ .CommonLabels.site }}'
        text: |
          {{ range .Alerts }}{{ .Annotations.summary }}: {{ .Value }} over {{ .Threshold }}
          {{ end }}id {{ .NotificationID }}
`, secretFile(t, smtpPassword), caFile), a)
	got := srv.wait(t, 1)[0]

	if !got.TLS || got.User != "jetlog" {
		t.Errorf("TLS %v, authenticated as %q: want STARTTLS and jetlog", got.TLS, got.User)
	}
	if got.From != "jetlog@example.com" || !slices.Equal(got.To, []string{"oncall@example.com", "db-team@example.com"}) {
		t.Errorf("envelope from %q to %q", got.From, got.To)
	}
	msg, err := mail.ReadMessage(strings.NewReader(string(got.Data)))
	if err != nil {
		t.Fatalf("%v\n%s", err, got.Data)
	}
	h := msg.Header
	recs := testkit.Record(t, e.nats.JS, topology.NotificationsStream, "notify.>").Wait(t, 1, 10*time.Second)
	rec, err := delivery.Parse(recs[0].Data())
	if err != nil {
		t.Fatal(err)
	}
	from, _ := h.AddressList("From")
	to, _ := h.AddressList("To")
	subject, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
	if err != nil {
		t.Errorf("subject %q: %v", h.Get("Subject"), err)
	}
	date, err := h.Date()
	if err != nil || date.IsZero() {
		t.Errorf("Date %q: %v", h.Get("Date"), err)
	}
	switch {
	case len(from) != 1 || from[0].Name != "jetlog" || from[0].Address != "jetlog@example.com":
		t.Errorf("From %q", h.Get("From"))
	case len(to) != 2 || to[0].Name != "On-call" || to[0].Address != "oncall@example.com" || to[1].Address != "db-team@example.com":
		t.Errorf("To %q", h.Get("To"))
	case subject != "FIRING: HighErrors in Zürich":
		t.Errorf("Subject %q (%q)", subject, h.Get("Subject"))
	case h.Get("Message-Id") != "<"+rec.ID+"@example.com>" || h.Get("Jetlog-Notification-Id") != rec.ID:
		t.Errorf("Message-ID %q, Jetlog-Notification-Id %q; the notification is %s", h.Get("Message-Id"), h.Get("Jetlog-Notification-Id"), rec.ID)
	case h.Get("Content-Type") != "text/plain; charset=utf-8" || h.Get("Content-Transfer-Encoding") != "quoted-printable":
		t.Errorf("Content-Type %q, Content-Transfer-Encoding %q", h.Get("Content-Type"), h.Get("Content-Transfer-Encoding"))
	}
	body := mailText(t, msg)
	if want := "HighErrors on checkout: 0.25 over 0.05\nid " + rec.ID + "\n"; body != want {
		t.Errorf("body %q, want %q", body, want)
	}
	if rec.Outcome != "delivered" || rec.Integration != "email[0]" || !strings.HasSuffix(rec.Target, " via "+srv.Addr) {
		t.Errorf("delivery record %+v", rec)
	}
	if strings.Contains(e.logs.String(), smtpPassword) || strings.Contains(string(recs[0].Data()), smtpPassword) {
		t.Error("the SMTP password appears in the logs or the delivery log")
	}
}

// TestEmailWithoutSTARTTLS: a server that does not offer STARTTLS gets no
// mail unless require_tls is turned off, and the failure, not retried,
// says why and how; with require_tls off the default templates go out in
// clear.
func TestEmailWithoutSTARTTLS(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		srv := startSMTP(t, nil, nil)
		e := notifyByEmail(t, srv.Addr, "", checkout())
		log := testkit.Record(t, e.nats.JS, topology.NotificationsStream, "notify.>")
		rec, _ := delivery.Parse(log.Wait(t, 1, 10*time.Second)[0].Data())
		if rec.Outcome != "failed" || rec.Attempt != 1 || !strings.Contains(rec.Error, "STARTTLS") || !strings.Contains(rec.Error, "require_tls: false") {
			t.Errorf("delivery record %+v", rec)
		}
		flushesDone(t, e)
		if n, attempts := len(srv.all()), len(log.Msgs()); n != 0 || attempts != 1 {
			t.Errorf("%d mails sent in clear; %d attempts", n, attempts)
		}
	})
	t.Run("allowed", func(t *testing.T) {
		srv := startSMTP(t, nil, nil)
		notifyByEmail(t, srv.Addr, "        require_tls: false\n", checkout())
		got := srv.wait(t, 1)[0]
		msg, err := mail.ReadMessage(strings.NewReader(string(got.Data)))
		if err != nil {
			t.Fatal(err)
		}
		body := mailText(t, msg)
		if got.TLS || msg.Header.Get("Subject") != "[FIRING:1] HighErrors (checkout critical)" ||
			!strings.HasPrefix(body, "1 firing:\n\nLabels:\n - alertname = HighErrors\n") || !strings.Contains(body, "jetlog notification ntf_") {
			t.Errorf("TLS %v, subject %q, body:\n%s", got.TLS, msg.Header.Get("Subject"), body)
		}
	})
}

// TestEmailRetriesTransientSMTPErrors: a 4xx answer of the SMTP server
// (try again later) is retried, a 5xx is not.
func TestEmailRetriesTransientSMTPErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		code     int
		outcomes []string
		mails    int
	}{
		{"451 is retried", 451, []string{"retrying", "delivered"}, 1},
		{"550 is not", 550, []string{"failed"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startSMTP(t, nil, func(n int) error {
				if n == 1 {
					return &smtp.SMTPError{Code: tc.code, Message: "mailbox unavailable"}
				}
				return nil
			})
			e := notifyByEmail(t, srv.Addr, "        require_tls: false\n", checkout())
			recs := testkit.Record(t, e.nats.JS, topology.NotificationsStream, "notify.>").Wait(t, len(tc.outcomes), 10*time.Second)
			var outcomes []string
			for _, m := range recs {
				r, _ := delivery.Parse(m.Data())
				outcomes = append(outcomes, r.Outcome)
			}
			flushesDone(t, e)
			if !slices.Equal(outcomes, tc.outcomes) || len(srv.all()) != tc.mails {
				t.Errorf("outcomes %v, %d mails; want %v, %d", outcomes, len(srv.all()), tc.outcomes, tc.mails)
			}
		})
	}
}

// TestEmailRefusesAnUntrustedCertificate: STARTTLS with a certificate the
// notifier cannot verify (no ca_file for a self-signed one) sends nothing:
// no credentials, no mail.
func TestEmailRefusesAnUntrustedCertificate(t *testing.T) {
	cert, _ := selfSigned(t)
	srv := startSMTP(t, &cert, nil)
	e := notifyByEmail(t, srv.Addr, fmt.Sprintf("        auth_username: jetlog\n        auth_password_file: %s\n", secretFile(t, smtpPassword)), checkout())
	failed := testkit.Record(t, e.nats.JS, topology.NotificationsStream, "notify.failed.>").Wait(t, 1, 30*time.Second)
	if r, _ := delivery.Parse(failed[0].Data()); !strings.Contains(r.Error, "certificate") {
		t.Errorf("the failure does not name the certificate: %+v", r)
	}
	flushesDone(t, e)
	if n := len(srv.all()); n != 0 {
		t.Errorf("%d mails sent over an unverified connection", n)
	}
}
