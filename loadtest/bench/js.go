package bench

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetlog/jetlog/libs/topology"
)

type (
	jsMsg     = jetstream.Msg
	pubFuture = jetstream.PubAckFuture
)

var fetchWait = jetstream.FetchMaxWait(time.Second)

func jetstreamConsumer(name string) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{Durable: name, AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 2000, AckWait: 30 * time.Second}
}

// republish makes the passthrough's output: the same bytes on the enriched
// subject, with the same id.
func republish(m jetstream.Msg) *nats.Msg {
	out := &nats.Msg{Subject: topology.EnrichedPrefix + strings.TrimPrefix(m.Subject(), topology.RawPrefix), Data: m.Data(), Header: nats.Header{}}
	out.Header.Set(nats.MsgIdHdr, m.Headers().Get(nats.MsgIdHdr))
	return out
}

func decodeJSON(resp *http.Response, v any) error {
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}
