package webhooks

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/upstream-rcm/upstream/internal/db"
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
}

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
	u, err := ValidateURL(s.URL)
	if err != nil {
		return err
	}
	return guard.CheckHost(ctx, u.Hostname())
}

// CreateEndpoint validates and stores an endpoint with a new secret, and
// returns both: the secret is shown once.
func CreateEndpoint(ctx context.Context, q *db.Queries, guard Guard, customerID int64, spec EndpointSpec) (db.WebhookEndpoint, error) {
	if err := spec.Validate(ctx, guard); err != nil {
		return db.WebhookEndpoint{}, err
	}
	existing, err := q.WebhookEndpointListByCustomer(ctx, customerID)
	if err != nil {
		return db.WebhookEndpoint{}, fmt.Errorf("list webhook endpoints: %w", err)
	}
	if len(existing) >= MaxEndpointsPerCustomer {
		return db.WebhookEndpoint{}, fmt.Errorf("a customer has at most %d webhook endpoints; delete one first", MaxEndpointsPerCustomer)
	}
	secret, err := NewSecret()
	if err != nil {
		return db.WebhookEndpoint{}, err
	}
	ep, err := q.WebhookEndpointCreate(ctx, db.WebhookEndpointCreateParams{CustomerID: customerID, URL: spec.URL,
		Format: spec.Format, MinSeverity: spec.MinSeverity, Secret: secret})
	if err != nil {
		return db.WebhookEndpoint{}, fmt.Errorf("store webhook endpoint: %w", err)
	}
	return ep, nil
}

// GetEndpoint returns one of the customer's endpoints.
func GetEndpoint(ctx context.Context, q *db.Queries, customerID, id int64) (db.WebhookEndpoint, error) {
	ep, err := q.WebhookEndpointGetByID(ctx, db.WebhookEndpointGetByIDParams{CustomerID: customerID, ID: id})
	if errors.Is(err, pgx.ErrNoRows) {
		return db.WebhookEndpoint{}, fmt.Errorf("endpoint %d: %w", id, ErrEndpointNotFound)
	}
	if err != nil {
		return db.WebhookEndpoint{}, fmt.Errorf("look up webhook endpoint %d: %w", id, err)
	}
	return ep, nil
}

// RotateSecret gives the endpoint a new secret; the old one keeps signing
// beside it for RotationGrace.
func RotateSecret(ctx context.Context, q *db.Queries, customerID, id int64, now time.Time) (db.WebhookEndpoint, error) {
	secret, err := NewSecret()
	if err != nil {
		return db.WebhookEndpoint{}, err
	}
	expires := now.Add(RotationGrace)
	ep, err := q.WebhookEndpointRotateSecret(ctx, db.WebhookEndpointRotateSecretParams{CustomerID: customerID, ID: id,
		Secret: secret, PreviousExpiresAt: &expires})
	if errors.Is(err, pgx.ErrNoRows) {
		return db.WebhookEndpoint{}, fmt.Errorf("endpoint %d: %w", id, ErrEndpointNotFound)
	}
	if err != nil {
		return db.WebhookEndpoint{}, fmt.Errorf("rotate webhook secret: %w", err)
	}
	return ep, nil
}

// SetEnabled enables or disables an endpoint; a disabled endpoint gets no
// new deliveries and its pending ones are cancelled when they run.
func SetEnabled(ctx context.Context, q *db.Queries, customerID, id int64, enabled bool) (db.WebhookEndpoint, error) {
	ep, err := q.WebhookEndpointSetEnabled(ctx, db.WebhookEndpointSetEnabledParams{CustomerID: customerID, ID: id, Enabled: enabled})
	if errors.Is(err, pgx.ErrNoRows) {
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
	ID          int64     `json:"id"`
	CustomerID  int64     `json:"customer_id"`
	URL         string    `json:"url"`
	Format      string    `json:"format"`
	MinSeverity float64   `json:"min_severity"`
	Enabled     bool      `json:"enabled"`
	CreatedAt   time.Time `json:"created_at"`
	Secret      string    `json:"secret,omitempty"`
}

// ViewEndpoint converts an endpoint, without its secret.
func ViewEndpoint(ep db.WebhookEndpoint) EndpointView {
	return EndpointView{ID: ep.ID, CustomerID: ep.CustomerID, URL: ep.URL, Format: ep.Format, MinSeverity: ep.MinSeverity,
		Enabled: ep.Enabled, CreatedAt: ep.CreatedAt}
}
