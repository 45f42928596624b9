// Package alerts keeps the lifecycle of each alert's subject (customer,
// payer, CPT group, drift type): open, acknowledged, snoozed until a date,
// resolved. A run's alerts are reconciled with their subjects in the run's
// transaction: a new alert opens its subject (or re-arms a resolved one or
// an expired snooze) and is delivered; an alert of an acknowledged or
// snoozed subject is recorded, marked suppressed, and not delivered. Every
// change is recorded with its time and actor.
package alerts

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/upstream-rcm/upstream/internal/db"
	"github.com/upstream-rcm/upstream/internal/drift"
	"github.com/upstream-rcm/upstream/internal/names"
	"github.com/upstream-rcm/upstream/internal/store"
)

// State is a subject's state.
type State string

// The states.
const (
	Open         State = "open"
	Acknowledged State = "acknowledged"
	Snoozed      State = "snoozed"
	Resolved     State = "resolved"
)

// System is the actor of changes made by computations.
const System = "system"

// MaxNoteLength bounds a note.
const MaxNoteLength = 2000

// Subject identifies what an alert is about.
type Subject struct {
	Payer     string     `json:"payer"`
	CPTGroup  string     `json:"cpt_group"`
	DriftType drift.Type `json:"drift_type"`
}

// ErrSubjectNotFound is returned for a subject that never alerted.
var ErrSubjectNotFound = errors.New("alert subject not found")

// Reconcile applies the lifecycle to a run's alerts inside its transaction
// and returns the alerts to deliver. today decides whether a snooze has
// expired.
func Reconcile(ctx context.Context, tx pgx.Tx, customerID, runID int64, events []drift.EventView, today time.Time) ([]drift.EventView, error) {
	q := store.New(tx)
	var deliver []drift.EventView
	for _, e := range events {
		if !e.Alert {
			continue
		}
		key := db.AlertSubjectGetForUpdateParams{CustomerID: customerID, Payer: e.Payer, CPTGroup: e.CPTGroup, DriftType: string(e.DriftType)}
		cur, err := q.AlertSubjectGetForUpdate(ctx, key)
		found := err == nil
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("look up alert subject: %w", err)
		}
		state := State(cur.State)
		muted := found && (state == Acknowledged || (state == Snoozed && cur.SnoozedUntil != nil && cur.SnoozedUntil.After(drift.Date(today))))
		if muted {
			if err := q.AlertSubjectTouch(ctx, db.AlertSubjectTouchParams{CustomerID: customerID, Payer: e.Payer, CPTGroup: e.CPTGroup,
				DriftType: string(e.DriftType), RunID: &runID}); err != nil {
				return nil, fmt.Errorf("update alert subject: %w", err)
			}
			if err := q.DriftEventMarkSuppressed(ctx, db.DriftEventMarkSuppressedParams{CustomerID: customerID, ReportRunID: runID,
				Payer: e.Payer, CPTGroup: e.CPTGroup, DriftType: string(e.DriftType)}); err != nil {
				return nil, fmt.Errorf("mark alert suppressed: %w", err)
			}
			continue
		}
		if _, err := q.AlertSubjectOpen(ctx, db.AlertSubjectOpenParams{CustomerID: customerID, Payer: e.Payer, CPTGroup: e.CPTGroup,
			DriftType: string(e.DriftType), RunID: &runID}); err != nil {
			return nil, fmt.Errorf("open alert subject: %w", err)
		}
		if !found || state != Open {
			var from *string
			if found {
				from = &cur.State
			}
			if err := q.AlertSubjectChangeInsert(ctx, db.AlertSubjectChangeInsertParams{CustomerID: customerID, Payer: e.Payer,
				CPTGroup: e.CPTGroup, DriftType: string(e.DriftType), FromState: from, ToState: string(Open), Actor: System}); err != nil {
				return nil, fmt.Errorf("record alert subject change: %w", err)
			}
		}
		deliver = append(deliver, e)
	}
	return deliver, nil
}

// Change is a person's action on a subject.
type Change struct {
	To    State
	Note  string
	Until time.Time // for Snoozed: the first day it alerts again
	Actor string    // "admin" or the customer key's prefix
}

// ChangeError is a change that cannot be made as asked.
type ChangeError struct{ msg string }

func (e *ChangeError) Error() string { return e.msg }

// Validate checks a change before it touches the database; its errors are
// *ChangeError.
func (c Change) Validate(today time.Time) error {
	if err := c.validate(today); err != nil {
		return &ChangeError{msg: err.Error()}
	}
	return nil
}

func (c Change) validate(today time.Time) error {
	switch c.To {
	case Acknowledged, Resolved:
		if !c.Until.IsZero() {
			return errors.New("only a snooze takes an until date")
		}
	case Snoozed:
		if c.Until.IsZero() || !c.Until.After(drift.Date(today)) {
			return errors.New("a snooze needs an until date after today (YYYY-MM-DD)")
		}
		if c.Until.After(drift.Date(today).AddDate(1, 0, 0)) {
			return errors.New("a snooze lasts at most a year")
		}
	default:
		return fmt.Errorf("state must be acknowledged, snoozed or resolved, got %q", c.To)
	}
	if len(c.Note) > MaxNoteLength {
		return fmt.Errorf("note longer than %d bytes", MaxNoteLength)
	}
	if strings.TrimSpace(c.Actor) == "" {
		return errors.New("a change needs an actor")
	}
	return nil
}

// Apply changes a subject's state and records the change, in one
// transaction.
func Apply(ctx context.Context, tx pgx.Tx, customerID int64, s Subject, c Change, today time.Time) (db.AlertSubject, error) {
	if err := c.Validate(today); err != nil {
		return db.AlertSubject{}, err
	}
	q := store.New(tx)
	s, err := resolveSubject(ctx, q, customerID, s)
	if err != nil {
		return db.AlertSubject{}, err
	}
	cur, err := q.AlertSubjectGetForUpdate(ctx, db.AlertSubjectGetForUpdateParams{CustomerID: customerID, Payer: s.Payer,
		CPTGroup: s.CPTGroup, DriftType: string(s.DriftType)})
	if errors.Is(err, store.ErrNotFound) {
		return db.AlertSubject{}, ErrSubjectNotFound
	}
	if err != nil {
		return db.AlertSubject{}, fmt.Errorf("look up alert subject: %w", err)
	}
	var note *string
	if c.Note != "" {
		note = &c.Note
	}
	var until *time.Time
	if c.To == Snoozed {
		until = &c.Until
	}
	updated, err := q.AlertSubjectSetState(ctx, db.AlertSubjectSetStateParams{CustomerID: customerID, Payer: s.Payer, CPTGroup: s.CPTGroup,
		DriftType: string(s.DriftType), State: string(c.To), Note: note, SnoozedUntil: until, Actor: c.Actor})
	if err != nil {
		return db.AlertSubject{}, fmt.Errorf("update alert subject: %w", err)
	}
	if err := q.AlertSubjectChangeInsert(ctx, db.AlertSubjectChangeInsertParams{CustomerID: customerID, Payer: s.Payer, CPTGroup: s.CPTGroup,
		DriftType: string(s.DriftType), FromState: &cur.State, ToState: string(c.To), Note: note, SnoozedUntil: until, Actor: c.Actor}); err != nil {
		return db.AlertSubject{}, fmt.Errorf("record alert subject change: %w", err)
	}
	return updated, nil
}

// resolveSubject matches the payer and CPT group a person typed against
// the customer's subjects, as drift.MatchName does.
func resolveSubject(ctx context.Context, q *db.Queries, customerID int64, s Subject) (Subject, error) {
	subjects, err := q.AlertSubjectListByCustomer(ctx, customerID)
	if err != nil {
		return s, fmt.Errorf("list alert subjects: %w", err)
	}
	seen := map[string]bool{}
	var payers []string
	for _, sub := range subjects {
		if !seen[sub.Payer] {
			seen[sub.Payer] = true
			payers = append(payers, sub.Payer)
		}
	}
	if s.Payer, err = names.Match("payer", "alerts", payers, s.Payer); err != nil {
		return s, err
	}
	clear(seen)
	var groups []string
	for _, sub := range subjects {
		if sub.Payer == s.Payer && !seen[sub.CPTGroup] {
			seen[sub.CPTGroup] = true
			groups = append(groups, sub.CPTGroup)
		}
	}
	s.CPTGroup, err = names.Match("CPT group", "alerts of "+s.Payer, groups, s.CPTGroup)
	return s, err
}

// SubjectView is a subject as the API and CLI show it.
type SubjectView struct {
	Subject
	State          State     `json:"state"`
	Note           *string   `json:"note"`
	SnoozedUntil   *string   `json:"snoozed_until"`
	LastAlertRunID *int64    `json:"last_alert_run_id"`
	UpdatedAt      time.Time `json:"updated_at"`
	UpdatedBy      string    `json:"updated_by"`
}

// ViewSubject converts a stored subject.
func ViewSubject(s db.AlertSubject) SubjectView {
	v := SubjectView{Subject: Subject{Payer: s.Payer, CPTGroup: s.CPTGroup, DriftType: drift.Type(s.DriftType)}, State: State(s.State),
		Note: s.Note, LastAlertRunID: s.LastAlertRunID, UpdatedAt: s.UpdatedAt, UpdatedBy: s.UpdatedBy}
	if s.SnoozedUntil != nil {
		d := s.SnoozedUntil.Format(time.DateOnly)
		v.SnoozedUntil = &d
	}
	return v
}

// List returns the customer's subjects, most recently changed first.
func List(ctx context.Context, q *db.Queries, customerID int64) ([]SubjectView, error) {
	rows, err := q.AlertSubjectListByCustomer(ctx, customerID)
	if err != nil {
		return nil, fmt.Errorf("list alert subjects: %w", err)
	}
	out := make([]SubjectView, len(rows))
	for i, r := range rows {
		out[i] = ViewSubject(r)
	}
	return out, nil
}

// Update applies c to a subject in a transaction of its own.
func Update(ctx context.Context, pool *pgxpool.Pool, customerID int64, s Subject, c Change, today time.Time) (SubjectView, error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return SubjectView{}, fmt.Errorf("begin alert change: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	updated, err := Apply(ctx, tx, customerID, s, c, today)
	if err != nil {
		return SubjectView{}, err
	}
	if err := tx.Commit(ctx); err != nil {
		return SubjectView{}, fmt.Errorf("commit alert change: %w", err)
	}
	return ViewSubject(updated), nil
}
