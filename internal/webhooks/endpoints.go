package webhooks

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/upstream-rcm/upstream/internal/db"
	"github.com/upstream-rcm/upstream/internal/secrets"
	"github.com/upstream-rcm/upstream/internal/store"
)

// ErrEndpointNotFound is returned for an endpoint the customer does not
// have.
var ErrEndpointNotFound = errors.New("webhook endpoint not found")

// RotationGrace is how long a rotated-out secret keeps signing beside the
// new one.
const RotationGrace = 24 * time.Hour

// MaxEndpointsPerCustomer bounds a customer's endpoints.
const MaxEndpointsPerCustomer = 20

// EndpointSpec is what creating an endpoint takes.
type EndpointSpec struct {
	URL         string
	Format      string  // FormatStandard when empty
	MinSeverity float64 // alerts below it are not sent to this endpoint
	// RepeatAfterDays, when above 0, reminds the endpoint of an episode
	// still open and unacknowledged that many days (by as-of date) after
	// the last message of it (drift.alert.reminder).
	RepeatAfterDays int
	// Digest, DigestDaily or DigestWeekly, sends the period's transitions
	// in one message instead of one message each (and no reminders).
	Digest string
}

// MaxRepeatAfterDays bounds an endpoint's reminder interval.
const MaxRepeatAfterDays = 90

// Validate checks the spec, resolving the host through guard.
func (s *EndpointSpec) Validate(ctx context.Context, guard Guard) error {
	if s.Format == "" {
		s.Format = FormatStandard
	}
	if s.Format != FormatStandard && s.Format != FormatSlack {
		return fmt.Errorf("format must be %s or %s, got %q", FormatStandard, FormatSlack, s.Format)
	}
	if math.IsNaN(s.MinSeverity) || s.MinSeverity < 0 || s.MinSeverity > 1 {
		return fmt.Errorf("min severity must be from 0 to 1, got %v", s.MinSeverity)
	}
	if s.Digest != "" && s.Digest != DigestDaily && s.Digest != DigestWeekly {
		return fmt.Errorf("digest must be %s or %s, got %q", DigestDaily, DigestWeekly, s.Digest)
	}
	if s.RepeatAfterDays < 0 || s.RepeatAfterDays > MaxRepeatAfterDays {
		return fmt.Errorf("repeat after days must be from 1 to %d (0: no reminders), got %d", MaxRepeatAfterDays, s.RepeatAfterDays)
	}
	u, err := ValidateURL(s.URL)
	if err != nil {
		return err
	}
	return guard.CheckHost(ctx, u.Hostname())
}

// CreateEndpoint validates and stores an endpoint with a new secret,
// sealed by kr, and returns both: the secret is shown once.
func CreateEndpoint(ctx context.Context, q *db.Queries, kr *secrets.Keyring, guard Guard, customerID int64, spec EndpointSpec) (db.WebhookEndpoint, string, error) {
	if err := spec.Validate(ctx, guard); err != nil {
		return db.WebhookEndpoint{}, "", err
	}
	existing, err := q.WebhookEndpointListByCustomer(ctx, customerID)
	if err != nil {
		return db.WebhookEndpoint{}, "", fmt.Errorf("list webhook endpoints: %w", err)
	}
	if len(existing) >= MaxEndpointsPerCustomer {
		return db.WebhookEndpoint{}, "", fmt.Errorf("a customer has at most %d webhook endpoints; delete one first", MaxEndpointsPerCustomer)
	}
	secret, err := NewSecret()
	if err != nil {
		return db.WebhookEndpoint{}, "", err
	}
	keyID, sealed, err := sealSecret(kr, customerID, secret)
	if err != nil {
		return db.WebhookEndpoint{}, "", err
	}
	var repeat *int32
	if spec.RepeatAfterDays > 0 {
		n := int32(spec.RepeatAfterDays)
		repeat = &n
	}
	var digest *string
	if spec.Digest != "" {
		digest = &spec.Digest
	}
	ep, err := q.WebhookEndpointCreate(ctx, db.WebhookEndpointCreateParams{CustomerID: customerID, URL: spec.URL,
		Format: spec.Format, MinSeverity: spec.MinSeverity, SecretKeyID: &keyID, SecretSealed: sealed, RepeatAfterDays: repeat, Digest: digest})
	if err != nil {
		return db.WebhookEndpoint{}, "", fmt.Errorf("store webhook endpoint: %w", err)
	}
	return ep, secret, nil
}

// GetEndpoint returns one of the customer's endpoints.
func GetEndpoint(ctx context.Context, q *db.Queries, customerID, id int64) (db.WebhookEndpoint, error) {
	ep, err := q.WebhookEndpointGetByID(ctx, db.WebhookEndpointGetByIDParams{CustomerID: customerID, ID: id})
	if errors.Is(err, store.ErrNotFound) {
		return db.WebhookEndpoint{}, fmt.Errorf("endpoint %d: %w", id, ErrEndpointNotFound)
	}
	if err != nil {
		return db.WebhookEndpoint{}, fmt.Errorf("look up webhook endpoint %d: %w", id, err)
	}
	return ep, nil
}

// RotateSecret gives the endpoint a new secret, sealed by kr, and returns
// it; the old one keeps signing beside it for RotationGrace.
func RotateSecret(ctx context.Context, q *db.Queries, kr *secrets.Keyring, customerID, id int64, now time.Time) (db.WebhookEndpoint, string, error) {
	secret, err := NewSecret()
	if err != nil {
		return db.WebhookEndpoint{}, "", err
	}
	keyID, sealed, err := sealSecret(kr, customerID, secret)
	if err != nil {
		return db.WebhookEndpoint{}, "", err
	}
	expires := now.Add(RotationGrace)
	ep, err := q.WebhookEndpointRotateSecret(ctx, db.WebhookEndpointRotateSecretParams{CustomerID: customerID, ID: id,
		SecretKeyID: &keyID, SecretSealed: sealed, PreviousExpiresAt: &expires})
	if errors.Is(err, store.ErrNotFound) {
		return db.WebhookEndpoint{}, "", fmt.Errorf("endpoint %d: %w", id, ErrEndpointNotFound)
	}
	if err != nil {
		return db.WebhookEndpoint{}, "", fmt.Errorf("rotate webhook secret: %w", err)
	}
	return ep, secret, nil
}

// SetEnabled enables or disables an endpoint; a disabled endpoint gets no
// new deliveries and its pending ones are cancelled when they run.
func SetEnabled(ctx context.Context, q *db.Queries, customerID, id int64, enabled bool) (db.WebhookEndpoint, error) {
	ep, err := q.WebhookEndpointSetEnabled(ctx, db.WebhookEndpointSetEnabledParams{CustomerID: customerID, ID: id, Enabled: enabled})
	if errors.Is(err, store.ErrNotFound) {
		return db.WebhookEndpoint{}, fmt.Errorf("endpoint %d: %w", id, ErrEndpointNotFound)
	}
	if err != nil {
		return db.WebhookEndpoint{}, fmt.Errorf("update webhook endpoint: %w", err)
	}
	return ep, nil
}

// DeleteEndpoint removes an endpoint with its deliveries.
func DeleteEndpoint(ctx context.Context, q *db.Queries, customerID, id int64) error {
	n, err := q.WebhookEndpointDelete(ctx, db.WebhookEndpointDeleteParams{CustomerID: customerID, ID: id})
	if err != nil {
		return fmt.Errorf("delete webhook endpoint: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("endpoint %d: %w", id, ErrEndpointNotFound)
	}
	return nil
}

// EndpointView is an endpoint as the API and CLI show it: never its
// secret, except once at creation and rotation (Secret).
type EndpointView struct {
	ID          int64   `json:"id"`
	CustomerID  int64   `json:"customer_id"`
	URL         string  `json:"url"`
	Format      string  `json:"format"`
	MinSeverity float64 `json:"min_severity"`
	// RepeatAfterDays is null without reminders.
	RepeatAfterDays *int32    `json:"repeat_after_days"`
	Digest          *string   `json:"digest"` // null: a message per transition
	Enabled         bool      `json:"enabled"`
	CreatedAt       time.Time `json:"created_at"`
	Secret          string    `json:"secret,omitempty"`
}

// ViewEndpoint converts an endpoint, without its secret.
func ViewEndpoint(ep db.WebhookEndpoint) EndpointView {
	return EndpointView{ID: ep.ID, CustomerID: ep.CustomerID, URL: ep.URL, Format: ep.Format, MinSeverity: ep.MinSeverity,
		RepeatAfterDays: ep.RepeatAfterDays, Digest: ep.Digest, Enabled: ep.Enabled, CreatedAt: ep.CreatedAt}
}

// DeliveryView is a delivery with its attempts, newest first.
type DeliveryView struct {
	ID           int64         `json:"id"`
	EndpointID   int64         `json:"endpoint_id"`
	ReportRunID  *int64        `json:"report_run_id"`
	TransitionID *int64        `json:"transition_id"`
	MessageID    string        `json:"webhook_id"`
	Status       string        `json:"status"` // pending, delivered, failed or cancelled
	StatusReason *string       `json:"status_reason"`
	Attempts     []AttemptView `json:"attempts"`
	CreatedAt    time.Time     `json:"created_at"`
	DeliveredAt  *time.Time    `json:"delivered_at"`
}

// AttemptView is one attempt.
type AttemptView struct {
	At time.Time `json:"at"`
	// State is sending (in flight), done, or unknown (its worker died
	// while it was in flight: the receiver may have it).
	State      string  `json:"state"`
	StatusCode *int32  `json:"status_code"`
	LatencyMs  *int32  `json:"latency_ms"`
	Error      *string `json:"error"`
	Response   *string `json:"response"`
}

// MaxDeliveriesListed bounds a deliveries listing.
const MaxDeliveriesListed = 200

// ListDeliveries returns a page of an endpoint's deliveries with their
// attempts, newest first, before the delivery beforeID (0: the newest):
// at most limit, and never more than MaxDeliveriesListed+1 (a caller asks
// one more than it shows to know whether a next page exists).
func ListDeliveries(ctx context.Context, q *db.Queries, customerID, endpointID, beforeID int64, limit int) ([]DeliveryView, error) {
	if _, err := GetEndpoint(ctx, q, customerID, endpointID); err != nil {
		return nil, err
	}
	rows, err := q.WebhookDeliveryListByEndpoint(ctx, db.WebhookDeliveryListByEndpointParams{CustomerID: customerID, EndpointID: endpointID,
		BeforeID: beforeID, MaxRows: int32(min(max(limit, 1), MaxDeliveriesListed+1))})
	if err != nil {
		return nil, fmt.Errorf("list webhook deliveries: %w", err)
	}
	ids := make([]int64, len(rows))
	out := make([]DeliveryView, len(rows))
	byID := map[int64]*DeliveryView{}
	for i, d := range rows {
		ids[i] = d.ID
		out[i] = DeliveryView{ID: d.ID, EndpointID: d.EndpointID, ReportRunID: d.ReportRunID, TransitionID: d.TransitionID,
			MessageID: d.MessageID, Status: d.Status, StatusReason: d.StatusReason,
			Attempts: []AttemptView{}, CreatedAt: d.CreatedAt, DeliveredAt: d.DeliveredAt}
		byID[d.ID] = &out[i]
	}
	attempts, err := q.WebhookAttemptListByDeliveries(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("list webhook attempts: %w", err)
	}
	for _, a := range attempts {
		d := byID[a.DeliveryID]
		d.Attempts = append(d.Attempts, AttemptView{At: a.AttemptedAt, State: a.State, StatusCode: a.StatusCode, LatencyMs: a.LatencyMs, Error: a.Error, Response: a.Response})
	}
	return out, nil
}
