// Package delivery is the delivery log: one record per attempt to deliver a
// notification, published on notify.<outcome>.<receiver> into the
// NOTIFICATIONS stream, where `jetlog notifications ls` and any NATS client
// read it.
//
// Outcomes:
//
//	delivered  the receiver accepted the notification
//	retrying   the attempt failed with a transient error (timeout, 5xx, 408,
//	           429); another follows after RetryIn
//	failed     the attempt failed for good (another 4xx, a refused address,
//	           a bad template) or the retry budget is spent; the notification
//	           is tried again at the group's next flush
package delivery

import (
	"encoding/json"
	"strings"
	"time"
)

// SubjectPrefix is the prefix of delivery records' subjects.
const SubjectPrefix = "notify."

// The outcomes of an attempt.
const (
	OutcomeDelivered = "delivered"
	OutcomeRetrying  = "retrying"
	OutcomeFailed    = "failed"
)

// Record is one attempt to deliver one notification.
type Record struct {
	// ID is the notification's id: the webhook-id, the Nats-Msg-Id, the
	// email's Message-ID. Every attempt of one notification shares it.
	ID string `json:"id"`
	// Receiver and Integration name where it went (integration:
	// webhook[0], slack[1], …).
	Receiver    string `json:"receiver"`
	Integration string `json:"integration"`
	// Target is the URL, subject or address, without credentials.
	Target string `json:"target,omitempty"`
	// GroupKey is the group the notification is about.
	GroupKey string `json:"groupKey"`
	// Status is firing when any alert of the notification fires.
	Status string `json:"status"`
	// Firing and Resolved count its alerts; Fingerprints lists them.
	Firing       int      `json:"firing"`
	Resolved     int      `json:"resolved"`
	Fingerprints []string `json:"fingerprints"`
	// Attempt counts from 1 for each delivery of a notification.
	Attempt int    `json:"attempt"`
	Outcome string `json:"outcome"`
	// HTTPStatus is the receiver's answer, when it is an HTTP one.
	HTTPStatus int `json:"httpStatus,omitempty"`
	// Error says why the attempt failed.
	Error string `json:"error,omitempty"`
	// RetryIn is the wait before the next attempt (retrying).
	RetryIn time.Duration `json:"retryInNs,omitempty"`
	// Duration is how long the attempt took.
	Duration time.Duration `json:"durationNs"`
	// At is when the attempt began.
	At time.Time `json:"at"`
}

// Subject returns the record's subject.
func (r *Record) Subject() string { return SubjectPrefix + r.Outcome + "." + token(r.Receiver) }

// MsgID returns the record's Nats-Msg-Id: one per notification, integration,
// attempt and start time, so a publish retried is stored once.
func (r *Record) MsgID() string {
	return r.ID + ":" + r.Integration + ":" + r.Outcome + ":" + r.At.UTC().Format(time.RFC3339Nano)
}

// Marshal returns the record's JSON.
func (r *Record) Marshal() []byte {
	b, _ := json.Marshal(r)
	return b
}

// Parse reads a record.
func Parse(data []byte) (*Record, error) {
	var r Record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

func token(s string) string {
	if s == "" {
		return "none"
	}
	return strings.Map(func(r rune) rune {
		if r == '.' || r == '*' || r == '>' || r <= ' ' || r == 0x7f {
			return '_'
		}
		return r
	}, s)
}
