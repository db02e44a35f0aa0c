package raw

import (
	"time"

	"github.com/jetlog/jetlog/libs/event"
)

type eventView struct {
	ID, Body, Source string
	Sev              int
	TS               time.Time
	Attrs            map[string]any
}

func view(evs []*event.Event) []*eventView {
	out := make([]*eventView, len(evs))
	for i, e := range evs {
		out[i] = &eventView{ID: e.ID, Body: e.Body, Source: e.Source, Sev: e.Severity.Number, TS: e.Timestamp, Attrs: e.Attributes}
	}
	return out
}
