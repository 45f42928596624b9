package webhooks

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/upstream-rcm/upstream/internal/drift"
)

// Formats of an endpoint.
const (
	FormatStandard = "standard" // the JSON payload below
	FormatSlack    = "slack"    // {"text": ...}, what a Slack incoming webhook accepts
)

// Event types of the standard payload.
const (
	TypeAlerts = "drift.alerts"
	TypeTest   = "webhook.test"
)

// Payload is the standard body: Standard Webhooks' {type, timestamp, data}.
type Payload struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      Data      `json:"data"`
}

// Data is a run's deliverable alerts.
type Data struct {
	Customer Customer       `json:"customer"`
	Run      *drift.RunView `json:"report_run,omitempty"`
	Alerts   []Alert        `json:"alerts"`
	Link     string         `json:"link,omitempty"`
}

// Customer names the customer.
type Customer struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
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
	if p.Type == TypeTest {
		fmt.Fprintf(&b, "upstream: test delivery for %s", p.Data.Customer.Name)
		return b.String()
	}
	fmt.Fprintf(&b, "upstream: %d drift alert(s) for %s", len(p.Data.Alerts), p.Data.Customer.Name)
	if p.Data.Run != nil {
		fmt.Fprintf(&b, " (run %d, as of %s)", p.Data.Run.ID, p.Data.Run.AsOf)
	}
	for _, a := range p.Data.Alerts {
		b0, c, _, _ := a.Compared()
		fmt.Fprintf(&b, "\n• %s / %s: %s %s → %s (%s), %s", a.Payer, a.CPTGroup, strings.ToLower(strings.ReplaceAll(string(a.DriftType), "_", " ")),
			drift.FormatValue(a.DriftType, b0), drift.FormatValue(a.DriftType, c), drift.FormatDelta(a.DriftType, c-b0), a.Evidence)
		if why := a.Drivers.Summary(2); why != "" {
			fmt.Fprintf(&b, "; driven by %s", why)
		}
	}
	if p.Data.Link != "" {
		fmt.Fprintf(&b, "\n%s", p.Data.Link)
	}
	return b.String()
}

// NewAlerts converts alert events for the payload.
func NewAlerts(events []drift.EventView) []Alert {
	out := make([]Alert, len(events))
	for i, e := range events {
		out[i] = Alert{EventView: e, Evidence: e.EvidenceWords(), Interval: e.FormatInterval()}
	}
	return out
}
