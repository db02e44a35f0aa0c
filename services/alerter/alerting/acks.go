package alerting

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// AckRequest is what `jetlog alerts ack` writes to ack.<fingerprint> in
// alert_state; the copy that owns the alert applies it and deletes it.
type AckRequest struct {
	By      string    `json:"by"`
	Comment string    `json:"comment,omitempty"`
	At      time.Time `json:"at"`
}

// watchAcks applies acknowledgements to the open alerts this copy owns.
func (a *Alerter) watchAcks(ctx context.Context) {
	watchKV(ctx, a.log, "acknowledgements", func() (jetstream.KeyWatcher, error) { return a.state.Watch(ctx, "ack.*") },
		func(e jetstream.KeyValueEntry) {
			if e == nil || e.Operation() != jetstream.KeyValuePut {
				return
			}
			var req AckRequest
			if json.Unmarshal(e.Value(), &req) != nil {
				return
			}
			if a.ack(strings.TrimPrefix(e.Key(), "ack."), req) {
				_ = a.state.Delete(ctx, e.Key(), jetstream.LastRevision(e.Revision()))
			}
		})
}

// ack acknowledges fp if one of this copy's partitions holds it open.
func (a *Alerter) ack(fp string, req AckRequest) bool {
	for _, pt := range a.partitions() {
		pt.mu.Lock()
		out, found := pt.eng.Ack(fp, req.By, a.Now())
		pt.publish(out)
		pt.mu.Unlock()
		if found {
			a.log.Info("alert acknowledged", "fingerprint", fp, "by", req.By)
			return true
		}
	}
	return false
}
