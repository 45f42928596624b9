package webhooks

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/upstream-rcm/upstream/internal/alerts"
	"github.com/upstream-rcm/upstream/internal/drift"
)

// Formats of an endpoint.
const (
	FormatStandard = "standard" // the JSON payload below
	FormatSlack    = "slack"    // {"text": ...}, what a Slack incoming webhook accepts
)

// Event types of the standard payload: one per transition of an alert's
// episode (a re-opening is drift.alert.opened with transition.kind
// "reopened"), and the test message.
const (
	TypeAlertOpened    = "drift.alert.opened"
	TypeAlertEscalated = "drift.alert.escalated"
	TypeAlertResolved  = "drift.alert.resolved"
	TypeAlertReminder  = "drift.alert.reminder"
	TypeTest           = "webhook.test"
)

// TypeOf is the payload type of a transition.
func TypeOf(k alerts.Kind) string {
	switch k {
	case alerts.KindEscalated:
		return TypeAlertEscalated
	case alerts.KindResolved:
		return TypeAlertResolved
	case alerts.KindReminder:
		return TypeAlertReminder
	}
	return TypeAlertOpened
}

// Payload is the standard body: Standard Webhooks' {type, timestamp, data}.
type Payload struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      Data      `json:"data"`
}

// Data is one transition of an alert's episode, with the alert that made
// it (none for a resolution).
type Data struct {
	Customer   Customer        `json:"customer"`
	Transition *TransitionView `json:"transition,omitempty"`
	Alert      *Alert          `json:"alert,omitempty"`
	Link       string          `json:"link,omitempty"`
}

// Customer names the customer.
type Customer struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

// TransitionView is what happened to the episode.
type TransitionView struct {
	Kind      alerts.Kind `json:"kind"` // opened, reopened, escalated, resolved, or reminder
	EpisodeID int64       `json:"episode_id"`
	Seq       int         `json:"seq"` // the transition's in its episode; a reminder's among the endpoint's
	alerts.Subject
	// Severity and Direction are the episode's as of this transition
	// (for a resolution, as last notified).
	Severity   float64   `json:"severity"`
	Direction  string    `json:"direction"` // up (higher denial rate, slower) or down
	OpenedAsOf string    `json:"opened_as_of"`
	Actor      string    `json:"actor"` // "system" or who changed it
	At         time.Time `json:"at"`
	RunID      *int64    `json:"report_run_id"`
}

// Alert is one alert with its evidence.
type Alert struct {
	drift.EventView
	Evidence string `json:"evidence"` // in words
	Interval string `json:"interval,omitempty"`
}

// Build returns the body for an endpoint's format.
func Build(format string, p Payload) ([]byte, error) {
	switch format {
	case FormatStandard:
		return json.Marshal(p)
	case FormatSlack:
		return json.Marshal(map[string]string{"text": SlackText(p)})
	}
	return nil, fmt.Errorf("unknown webhook format %q", format)
}

// SlackText is the payload as a short message for people.
func SlackText(p Payload) string {
	var b strings.Builder
	t := p.Data.Transition
	if p.Type == TypeTest || t == nil {
		fmt.Fprintf(&b, "upstream: test delivery for %s", p.Data.Customer.Name)
		return b.String()
	}
	what := strings.ToLower(strings.ReplaceAll(string(t.DriftType), "_", " "))
	fmt.Fprintf(&b, "upstream: %s / %s %s for %s", t.Payer, t.CPTGroup, what, p.Data.Customer.Name)
	switch t.Kind {
	case alerts.KindResolved:
		fmt.Fprintf(&b, " resolved (open since %s; by %s)", t.OpenedAsOf, t.Actor)
	case alerts.KindEscalated:
		b.WriteString(" escalated")
	case alerts.KindReopened:
		b.WriteString(" alerting again")
	case alerts.KindReminder:
		fmt.Fprintf(&b, " still open since %s (reminder %d)", t.OpenedAsOf, t.Seq)
	default:
		b.WriteString(" alert")
	}
	if a := p.Data.Alert; a != nil {
		b0, c, _, _ := a.Compared()
		fmt.Fprintf(&b, ": %s → %s (%s), %s", drift.FormatValue(a.DriftType, b0), drift.FormatValue(a.DriftType, c),
			drift.FormatDelta(a.DriftType, c-b0), a.Evidence)
		if dollars := a.FormatDollars(); dollars != "" {
			fmt.Fprintf(&b, "; %s at stake", dollars)
		}
		if why := a.Drivers.Summary(2); why != "" {
			fmt.Fprintf(&b, "; driven by %s", why)
		}
	}
	if p.Data.Link != "" {
		fmt.Fprintf(&b, "\n%s", p.Data.Link)
	}
	return b.String()
}

// NewAlert converts an alert event for the payload.
func NewAlert(e drift.EventView) *Alert {
	return &Alert{EventView: e, Evidence: e.EvidenceWords(), Interval: e.FormatInterval()}
}

// NewTransition converts a transition for the payload.
func NewTransition(t alerts.Transition) *TransitionView {
	dir := "up"
	if t.Direction < 0 {
		dir = "down"
	}
	return &TransitionView{Kind: t.Kind, EpisodeID: t.EpisodeID, Seq: t.Seq, Subject: t.Subject, Severity: t.Severity,
		Direction: dir, OpenedAsOf: t.OpenedAsOf.Format(time.DateOnly), Actor: t.Actor, At: t.At.UTC(), RunID: t.RunID}
}
