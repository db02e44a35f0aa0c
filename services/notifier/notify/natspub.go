package notify

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// HeaderNotificationID carries the notification id on NATS messages
// (beside Nats-Msg-Id, which JetStream uses to drop a repeat).
const HeaderNotificationID = "Jetlog-Notification-Id"

// natsOut publishes the webhook body on a NATS subject.
type natsOut struct {
	base
	subject   string
	jetstream bool
	nc        *nats.Conn
	js        jetstream.JetStream
}

var _ Integration = (*natsOut)(nil)

func (o *natsOut) Kind() string   { return "nats" }
func (o *natsOut) Target() string { return o.subject }

func (o *natsOut) Send(ctx context.Context, n *Notification) error {
	body, err := newData(n, o.externalURL).appendWebhookJSON(nil)
	if err != nil {
		return Permanent(err)
	}
	m := &nats.Msg{Subject: o.subject, Data: body, Header: nats.Header{}}
	m.Header.Set(nats.MsgIdHdr, n.ID)
	m.Header.Set(HeaderNotificationID, n.ID)
	if !o.jetstream {
		return o.nc.PublishMsg(m)
	}
	if _, err := o.js.PublishMsg(ctx, m); err != nil {
		return fmt.Errorf("publish to %s: %w (is a stream capturing the subject? set jetstream: false for a core NATS publish)", o.subject, err)
	}
	return nil
}
