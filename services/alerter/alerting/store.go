package alerting

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"fmt"
	"hash/fnv"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// The alerter's streams, consumers and buckets beyond the pipeline's.
const (
	// HitsStream carries each match of a rule to the partition of its
	// group: alerter.hits.<partition>.
	HitsStream   = "ALERT_HITS"
	HitsSubjects = "alerter.hits.*"
	HitsPrefix   = "alerter.hits."
	// LeasesBucket holds the copies of the alerter (member.<instance>) and
	// who owns each partition (lease.<partition>).
	LeasesBucket = "alerter_leases"
)

// Partition returns the partition of a state key (a group's fingerprint).
func Partition(key string, partitions int) int {
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32() % uint32(partitions))
}

// PartitionDurable names a partition's consumer on ALERT_HITS.
func PartitionDurable(p int) string { return fmt.Sprintf("alerter-p%03d", p) }

// hitsSubject is the subject of partition p's hits.
func hitsSubject(p int) string { return HitsPrefix + strconv.Itoa(p) }

// Keys of the alert_state bucket:
//
//	meta.partitions     the partition count the state was written with
//	k.<p>.<key>         a rule's state for one group (engine.Key)
//	alert.<fp>          an open alert's last event (jetlog alerts ls)
//	ack.<fp>            an acknowledgement waiting for the alert's owner
func stateKey(p int, key string) string { return fmt.Sprintf("k.%03d.%s", p, key) }

func partitionFilter(p int) string { return fmt.Sprintf("k.%03d.>", p) }

// keyOf returns the group key of a state entry's KV key.
func keyOf(kvKey string) string {
	if i := strings.LastIndexByte(kvKey, '.'); i >= 0 {
		return kvKey[i+1:]
	}
	return kvKey
}

// LedgerKey is the alert_state key of an open alert's last event.
func LedgerKey(fp string) string { return "alert." + fp }

// AckKey is the alert_state key an acknowledgement is written to.
func AckKey(fp string) string { return "ack." + fp }

const metaPartitions = "meta.partitions"

// leaseKey and memberKey are keys of the leases bucket.
func leaseKey(p int) string      { return fmt.Sprintf("lease.%03d", p) }
func memberKey(id string) string { return "member." + id }
func isNotFound(err error) bool  { return errors.Is(err, jetstream.ErrKeyNotFound) }

// watchKV runs each over the entries of a KV watch that open starts, and
// starts it again when it ends, until ctx ends. A nil entry marks the end
// of the initial values.
func watchKV(ctx context.Context, log *slog.Logger, what string, open func() (jetstream.KeyWatcher, error), each func(jetstream.KeyValueEntry)) {
	for ctx.Err() == nil {
		w, err := open()
		if err != nil {
			log.Warn("cannot watch "+what+"; retrying", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		for e := range w.Updates() {
			each(e)
		}
		_ = w.Stop()
	}
}
