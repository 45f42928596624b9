package webhooks

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/upstream-rcm/upstream/internal/alerts"
	"github.com/upstream-rcm/upstream/internal/db"
	"github.com/upstream-rcm/upstream/internal/drift"
	"github.com/upstream-rcm/upstream/internal/store"
)

// Digest frequencies of an endpoint.
const (
	DigestDaily  = "daily"
	DigestWeekly = "weekly"
)

// TypeAlertDigest is the payload type of a digest.
const TypeAlertDigest = "drift.alert.digest"

// MaxDigestTransitions bounds the transitions one digest lists; the rest
// are counted.
const MaxDigestTransitions = 500

// DigestPeriod is the last whole period before now: the previous UTC day,
// or the previous week from Monday.
func DigestPeriod(frequency string, now time.Time) (start, end time.Time) {
	end = drift.Date(now)
	if frequency == DigestWeekly {
		end = end.AddDate(0, 0, -((int(end.Weekday()) + 6) % 7)) // this week's Monday
		return end.AddDate(0, 0, -7), end
	}
	return end.AddDate(0, 0, -1), end
}

// DigestData is a digest's payload data.
type DigestData struct {
	Customer    Customer         `json:"customer"`
	Frequency   string           `json:"frequency"`
	Start       string           `json:"start"`
	End         string           `json:"end"` // exclusive
	Transitions []TransitionView `json:"transitions"`
	More        int              `json:"more"` // transitions past MaxDigestTransitions
}

// DeliverDigests writes, for every enabled endpoint that takes digests,
// the digest of its last whole period when that period had transitions
// and has no digest yet (one per endpoint and period, by constraint and
// derived webhook-id), each with its job, an endpoint per transaction. It
// returns how many it wrote.
func DeliverDigests(ctx context.Context, pool *pgxpool.Pool, jobs Jobs, now time.Time) (int, error) {
	written, after := 0, int64(0)
	for {
		eps, err := store.New(pool).WebhookEndpointListDigests(ctx, db.WebhookEndpointListDigestsParams{After: after, MaxRows: 100})
		if err != nil {
			return written, fmt.Errorf("list digest endpoints: %w", err)
		}
		for _, ep := range eps {
			ok, err := deliverDigest(ctx, pool, jobs, ep, now)
			if err != nil {
				return written, fmt.Errorf("digest of endpoint %d: %w", ep.ID, err)
			}
			if ok {
				written++
			}
			after = ep.ID
		}
		if len(eps) < 100 {
			return written, nil
		}
	}
}

func deliverDigest(ctx context.Context, pool *pgxpool.Pool, jobs Jobs, ep db.WebhookEndpointListDigestsRow, now time.Time) (bool, error) {
	start, end := DigestPeriod(*ep.Digest, now)
	tx, err := pool.Begin(ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	q := store.New(tx)
	rows, err := q.AlertTransitionListForDigest(ctx, db.AlertTransitionListForDigestParams{CustomerID: ep.CustomerID, Start: start, EndAt: end,
		MinSeverity: ep.MinSeverity, MaxRows: MaxDigestTransitions + 1})
	if err != nil || len(rows) == 0 {
		return false, err
	}
	data := DigestData{Customer: Customer{ID: ep.CustomerID, Name: ep.CustomerName}, Frequency: *ep.Digest,
		Start: start.Format(time.DateOnly), End: end.Format(time.DateOnly), Transitions: []TransitionView{}}
	for i, r := range rows {
		if i == MaxDigestTransitions {
			data.More = len(rows) - i // at least one more
			break
		}
		data.Transitions = append(data.Transitions, *NewTransition(alerts.Transition{ID: r.ID, EpisodeID: r.EpisodeID, Seq: int(r.Seq),
			Kind: alerts.Kind(r.Kind), Subject: alerts.Subject{Payer: r.Payer, CPTGroup: r.CPTGroup, DriftType: drift.Type(r.DriftType)},
			Severity: r.Severity, Direction: int(r.Direction), OpenedAsOf: r.OpenedAsOf, Actor: r.Actor, At: r.CreatedAt, RunID: r.ReportRunID}))
	}
	body, err := buildDigest(ep.Format, now, data)
	if err != nil {
		return false, err
	}
	sum := sha256.Sum256(fmt.Appendf(nil, "upstream/digest/%d/%s", ep.ID, data.Start))
	id, err := q.WebhookDeliveryCreate(ctx, db.WebhookDeliveryCreateParams{CustomerID: ep.CustomerID, EndpointID: ep.ID,
		DigestPeriod: &start, MessageID: "msg_" + hex.EncodeToString(sum[:16]), Payload: body})
	if errors.Is(err, store.ErrNotFound) {
		return false, nil // this period's digest exists
	}
	if err != nil {
		return false, fmt.Errorf("store digest: %w", err)
	}
	if _, err := jobs.EnqueueDeliveryTx(ctx, tx, id); err != nil {
		return false, err
	}
	return true, tx.Commit(ctx)
}

// buildDigest is a digest's body: {type, timestamp, data} for standard
// endpoints, a text listing for Slack.
func buildDigest(format string, now time.Time, data DigestData) ([]byte, error) {
	if format != FormatSlack {
		return json.Marshal(struct {
			Type      string     `json:"type"`
			Timestamp time.Time  `json:"timestamp"`
			Data      DigestData `json:"data"`
		}{TypeAlertDigest, now.UTC(), data})
	}
	var b strings.Builder
	fmt.Fprintf(&b, "upstream: %d alert change(s) for %s, %s to %s", len(data.Transitions)+data.More, data.Customer.Name, data.Start, data.End)
	for _, t := range data.Transitions {
		fmt.Fprintf(&b, "\n• %s / %s %s: %s (severity %.2f, %s)", t.Payer, t.CPTGroup,
			strings.ToLower(strings.ReplaceAll(string(t.DriftType), "_", " ")), t.Kind, t.Severity, t.Direction)
	}
	if data.More > 0 {
		fmt.Fprintf(&b, "\n… and %d more", data.More)
	}
	return json.Marshal(map[string]string{"text": b.String()})
}
