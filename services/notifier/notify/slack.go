package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

type slack struct {
	base
	url                     string
	channel, username, icon string
	title, text, color      *Body
	client                  *http.Client
}

var _ Integration = (*slack)(nil)

func (s *slack) Kind() string { return "slack" }

// Target hides the incoming webhook's URL, which is its credential.
func (s *slack) Target() string {
	if s.channel != "" {
		return "slack " + s.channel
	}
	return "slack incoming webhook"
}

type slackAttachment struct {
	Fallback string   `json:"fallback"`
	Color    string   `json:"color,omitempty"`
	Title    string   `json:"title"`
	Text     string   `json:"text"`
	Footer   string   `json:"footer"`
	MrkdwnIn []string `json:"mrkdwn_in"`
}

type slackMessage struct {
	Channel     string            `json:"channel,omitempty"`
	Username    string            `json:"username,omitempty"`
	IconEmoji   string            `json:"icon_emoji,omitempty"`
	Attachments []slackAttachment `json:"attachments"`
}

func (s *slack) Send(ctx context.Context, n *Notification) error {
	data := newData(n, s.externalURL)
	var out [3]string
	for i, b := range []*Body{s.title, s.text, s.color} {
		v, err := b.Execute(data)
		if err != nil {
			return Permanent(fmt.Errorf("slack template: %w", err))
		}
		out[i] = v
	}
	msg := slackMessage{Channel: s.channel, Username: s.username, IconEmoji: s.icon, Attachments: []slackAttachment{{
		Fallback: out[0], Title: out[0], Text: out[1], Color: out[2], MrkdwnIn: []string{"text"},
		// Slack has no idempotency key: the id is shown, so a person can tell
		// a repeat from a new notification.
		Footer: "jetlog " + n.ID,
	}}}
	body, err := json.Marshal(msg)
	if err != nil {
		return Permanent(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return Permanent(fmt.Errorf("slack URL: %w", err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	return doHTTP(s.client, req)
}
