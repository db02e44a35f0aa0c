package notifier

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/jetlog/jetlog/libs/config"
	"github.com/jetlog/jetlog/services/notifier/route"
)

// Reload applies a changed notifier section while the notifier runs (the
// host calls it on SIGHUP and POST /-/reload, with cfg validated).
//
// The routing keys (route, receivers, inhibit_rules, time_intervals,
// templates, external_url, timeout, retry) and silence_retention take
// effect at once and together: the receivers are built and their secrets
// read again, a flush in progress finishes with the old set, the next one
// uses the new. The held alerts are regrouped under the new routing tree;
// a group whose key is unchanged keeps its timer, a new group waits its
// group_wait, and the notification log still keeps a receiver from being
// told twice what it was told within repeat_interval.
//
// The keys read only at start (consumer, http, log_retention: the durable
// consumer, the stream's listener, the notification log's TTL) keep their
// running values; a warning names those that changed, and a restart
// applies them. On error nothing is applied.
func (n *Notifier) Reload(_ context.Context, cfg *Config) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.started || n.stopped {
		return errors.New("notifier: not running: nothing to reload")
	}
	cur := n.current.Load()
	next := *cfg
	var fixed []string
	if !reflect.DeepEqual(cur.Consumer, cfg.Consumer) {
		fixed, next.Consumer = append(fixed, "consumer"), cur.Consumer
	}
	if cur.HTTP != cfg.HTTP {
		fixed, next.HTTP = append(fixed, "http"), cur.HTTP
	}
	if cur.LogRetention != cfg.LogRetention {
		fixed, next.LogRetention = append(fixed, "log_retention"), cur.LogRetention
	}
	rt, err := n.compile(&next)
	if err != nil {
		return fmt.Errorf("%w: %w", config.ErrInvalid, err)
	}
	if err := checkRetention(rt.route, next.LogRetention); err != nil {
		return err
	}
	n.routing = rt
	n.pipeline = n.pipeline.With(rt.pipe)
	n.dispatcher.Reconfigure(rt.route, n.pipeline)
	n.current.Store(&next)
	if len(fixed) > 0 {
		n.log.Warn("notifier keys changed that apply only at start: they keep their running values until a restart; the routing is reloaded",
			"keys", fixed)
	}
	n.log.Info("notifier configuration reloaded", "receivers", len(rt.pipe.Receivers), "inhibit_rules", len(next.InhibitRules),
		"alerts", len(n.dispatcher.Alerts()), "groups", len(n.dispatcher.Groups()))
	return nil
}

// checkRetention refuses a routing tree whose repeat_interval the running
// notification log would forget before it is due (Validate checked the
// new log_retention; the running one applies until a restart).
func checkRetention(root *route.Route, retention time.Duration) error {
	var errs config.Errors
	root.Walk(func(r *route.Route) {
		if r.RepeatInterval >= retention {
			errs.Addf("log_retention", "the running %v is not above route %s's repeat_interval %v, and a new log_retention applies only at a restart: "+
				"restart to apply both, or keep repeat_interval below %v", retention, r.ID, r.RepeatInterval, retention)
		}
	})
	return errs.Err()
}
