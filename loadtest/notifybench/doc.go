// Package notifybench measures the notifier against Alertmanager on the
// same work: one local webhook receiver, the same alerts, one notification
// per alert, each system run as its own process on the same machine in the
// same run, alternately.
//
// Both systems are configured so that grouping adds no wait: group_by
// ['...'] (every label, so each alert is its own group and its own
// notification), group_wait 0s (a new group is flushed at once) and a
// group_interval and repeat_interval longer than the run (no group is
// flushed twice). With grouping on, either system would wait group_wait by
// design, and that wait, not the system, would be measured.
//
// Definitions:
//
//   - Added latency of an alert: from the moment the load generator hands
//     the alert to the system (just before the JetStream publish to ALERTS
//     for jetlog; for Alertmanager, just before it is queued for a sender
//     that POSTs to /api/v2/alerts as Prometheus does, which at a steady
//     rate is when its POST starts) until the receiver's handler is entered
//     for the notification that carries it. Nothing is subtracted: the
//     figure includes the JetStream hop (jetlog) or the inbound HTTP request
//     (Alertmanager). For scale, the run also measures the same interval
//     for an ordered JetStream consumer subscribed directly to ALERTS in the
//     load generator, and for a POST made directly to the receiver.
//   - Latency is measured at a fixed offered rate (open loop: the schedule
//     does not wait for the system), so it is not queueing behind a burst.
//   - Throughput: a burst of alerts handed over as fast as the system takes
//     them; notifications/s = alerts ÷ (last notification's arrival − the
//     first hand-over).
//
// All times are read from this process's monotonic clock: the generator
// and the receiver live here, the systems under test are child processes.
package notifybench
