package forward

import (
	"fmt"
	"testing"
	"time"

	"github.com/jetlog/jetlog/libs/testkit"
	"github.com/jetlog/jetlog/libs/topology"
)

// Records without a time of their own (time 0 or nil) get their identity
// from the chunk: identical ones are distinct events, and a resent chunk,
// with or without a chunk id, stores nothing new.
func TestTimelessRecordsKeepTheirIDsWhenResent(t *testing.T) {
	e := newEnv(t, nil, nil)
	line := map[string]any{"message": "connection reset"}
	cases := []struct {
		tag    string
		option map[string]any
	}{
		{"timeless.chunk", map[string]any{"chunk": "c-timeless"}},
		{"timeless.nochunk", nil},
	}
	for _, tc := range cases {
		t.Run(tc.tag, func(t *testing.T) {
			msg := []any{tc.tag, []any{[]any{0, line}, []any{0, line}, []any{nil, line}}}
			if tc.option != nil {
				msg = append(msg, tc.option)
			}
			c := dial(t, e.srv.Addr())
			for range 2 {
				c.send(mp(t, msg))
				if tc.option != nil {
					c.expectAck(tc.option["chunk"].(string))
				}
			}
			// A chunk with an ack after them: the connection handles
			// its messages in order, so both sends are done by then.
			barrier := "barrier-" + tc.tag
			c.send(mp(t, []any{"barrier", []any{[]any{1764064800, map[string]any{"message": barrier}}}, map[string]any{"chunk": barrier}}))
			c.expectAck(barrier)
			evs := e.events(t, tc.tag, 3)
			ids := map[string]bool{}
			for _, ev := range evs {
				ids[ev.ID] = true
			}
			if len(evs) != 3 || len(ids) != 3 {
				t.Errorf("%d events with %d distinct ids on %s, want 3", len(evs), len(ids), tc.tag)
			}
		})
	}
	testkit.Poll(t, 10*time.Second, func() (bool, string) {
		n := e.n.StreamMsgs(topology.RawStream)
		return n == uint64(len(e.raw.Msgs())), fmt.Sprintf("recorder at %d of %d", len(e.raw.Msgs()), n)
	})
	if got := e.n.StreamMsgs(topology.RawStream); got != 8 {
		t.Errorf("the raw stream holds %d events, want 8 (3 per tag and 2 barriers)", got)
	}
}
