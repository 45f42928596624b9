// Package alerts keeps the lifecycle of each alert's subject (customer,
// payer, CPT group, drift type): open, acknowledged, snoozed until a date,
// resolved; and its episodes, from the first alert to the resolution. A
// run's alerts are reconciled with them in the run's transaction, and only
// transitions (opened, re-opened, escalated, resolved) are delivered; an
// alert of an acknowledged or snoozed subject is recorded, marked
// suppressed, and not delivered. Every change is recorded with its time
// and actor.
package alerts

import (
	"context"
	"errors"
	"fmt"
	"slices"
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

// Computation is what a committed drift computation tells the lifecycle.
type Computation struct {
	RunID int64
	AsOf  time.Time
	// Events are the run's events (its alerts among them).
	Events []drift.EventView
	// Tested lists the cells and metrics the run tested.
	Tested []drift.Tested
	// Withdrawn is true when data was deleted or reclassified since the
	// previous computation.
	Withdrawn bool
	// Today decides whether a snooze has expired.
	Today time.Time
}

// QuietRunsToResolve is how many computations, at least QuietDays apart
// by as-of date, must test a subject without an alert for its episode to
// resolve by itself.
const (
	QuietRunsToResolve = 2
	QuietDays          = 7
)

// EscalationStep is the rise in severity, from the last one notified, that
// escalates an open episode (a flip of direction does too).
const EscalationStep = 0.25

// Reconcile applies a computation to the customer's episodes inside its
// transaction, and returns the transitions to deliver:
//   - an alert of a subject without an open episode opens one ("opened",
//     or "reopened" when the subject had one before);
//   - an alert of an open episode escalates it when its severity rose by
//     EscalationStep or its direction flipped; otherwise it only keeps the
//     episode open (no message: the alert is old news);
//   - an open episode whose subject was tested without an alert counts a
//     quiet run (at least QuietDays after the previous one, after its last
//     alert), and resolves at QuietRunsToResolve; after a deletion or
//     reclassification, one computation without its alert resolves it.
//
// Acknowledged and snoozed subjects record their alerts (suppressed) and
// transitions, but deliver nothing except resolutions of acknowledged
// ones; a snooze that has expired re-opens the subject ("reopened").
// Computations of a customer are serialized by its lock, so transitions
// are numbered without races; (episode, seq) is unique all the same.
func Reconcile(ctx context.Context, tx pgx.Tx, customerID int64, c Computation) ([]Transition, error) {
	q := store.New(tx)
	open, err := q.AlertEpisodeListOpenForUpdate(ctx, customerID)
	if err != nil {
		return nil, fmt.Errorf("list open alert episodes: %w", err)
	}
	episodes := map[Subject]*db.AlertEpisode{}
	for i := range open {
		e := &open[i]
		episodes[Subject{e.Payer, e.CPTGroup, drift.Type(e.DriftType)}] = e
	}
	r := reconciler{q: q, customerID: customerID, c: c}
	alerting := map[Subject]bool{}
	for _, e := range c.Events {
		if !e.Alert {
			continue
		}
		s := Subject{e.Payer, e.CPTGroup, e.DriftType}
		alerting[s] = true
		if err := r.alert(ctx, s, e, episodes[s]); err != nil {
			return nil, err
		}
	}
	tested := map[Subject]bool{}
	for _, t := range c.Tested {
		tested[Subject{t.Payer, t.CPTGroup, t.Type}] = true
	}
	asOf := drift.Date(c.AsOf)
	for i := range open {
		ep := &open[i]
		s := Subject{ep.Payer, ep.CPTGroup, drift.Type(ep.DriftType)}
		if alerting[s] {
			continue
		}
		switch {
		case c.Withdrawn:
			err = r.resolve(ctx, s, ep, System+" (data withdrawn)", &c.RunID)
		case tested[s] && asOf.After(ep.LastAlertAsOf) &&
			(ep.LastQuietAsOf == nil || !asOf.Before(ep.LastQuietAsOf.AddDate(0, 0, QuietDays))):
			ep.QuietRuns++
			ep.LastQuietAsOf = &asOf
			if ep.QuietRuns >= QuietRunsToResolve {
				err = r.resolve(ctx, s, ep, System, &c.RunID)
			} else {
				err = r.save(ctx, ep)
			}
		}
		if err != nil {
			return nil, err
		}
	}
	return r.deliver, nil
}

type reconciler struct {
	q          *db.Queries
	customerID int64
	c          Computation
	deliver    []Transition
}

// subject locks the subject's row and says whether it is muted, and
// whether by a snooze still running.
func (r *reconciler) subject(ctx context.Context, s Subject) (cur db.AlertSubject, found, muted, snoozed bool, err error) {
	cur, err = r.q.AlertSubjectGetForUpdate(ctx, db.AlertSubjectGetForUpdateParams{CustomerID: r.customerID, Payer: s.Payer,
		CPTGroup: s.CPTGroup, DriftType: string(s.DriftType)})
	if errors.Is(err, store.ErrNotFound) {
		return cur, false, false, false, nil
	}
	if err != nil {
		return cur, false, false, false, fmt.Errorf("look up alert subject: %w", err)
	}
	snoozed = State(cur.State) == Snoozed && cur.SnoozedUntil != nil && cur.SnoozedUntil.After(drift.Date(r.c.Today))
	return cur, true, snoozed || State(cur.State) == Acknowledged, snoozed, nil
}

func (r *reconciler) alert(ctx context.Context, s Subject, e drift.EventView, ep *db.AlertEpisode) error {
	cur, found, muted, snoozed, err := r.subject(ctx, s)
	if err != nil {
		return err
	}
	if !found {
		// The subject's first alert: the subject exists before its episode.
		if err := r.open(ctx, s, nil); err != nil {
			return err
		}
		cur.State = string(Open)
	}
	severity, direction := e.Severity, directionOf(e.DeltaValue)
	var kind Kind
	switch {
	case ep == nil:
		had, err := r.q.AlertEpisodeExists(ctx, db.AlertEpisodeExistsParams{CustomerID: r.customerID, Payer: s.Payer,
			CPTGroup: s.CPTGroup, DriftType: string(s.DriftType)})
		if err != nil {
			return fmt.Errorf("look up alert episodes: %w", err)
		}
		created, err := r.q.AlertEpisodeCreate(ctx, db.AlertEpisodeCreateParams{CustomerID: r.customerID, Payer: s.Payer,
			CPTGroup: s.CPTGroup, DriftType: string(s.DriftType), RunID: r.c.RunID, AsOf: drift.Date(r.c.AsOf),
			Severity: severity, Direction: direction})
		if err != nil {
			return fmt.Errorf("open alert episode: %w", err)
		}
		ep, kind = &created, KindOpened
		if had {
			kind = KindReopened
		}
		// A new episode is news even to a subject acknowledged before;
		// only a running snooze keeps it quiet.
		muted = snoozed
	case State(cur.State) == Snoozed && !snoozed:
		kind = KindReopened // the snooze has expired and it still alerts
	case escalated(ep, severity, direction):
		kind = KindEscalated
	}
	ep.LastAlertRunID, ep.LastAlertAsOf, ep.QuietRuns, ep.LastQuietAsOf = r.c.RunID, drift.Date(r.c.AsOf), 0, nil
	if kind != "" {
		ep.Severity, ep.Direction = severity, direction
		if _, err := r.transition(ctx, s, ep, kind, System, &r.c.RunID, nil, !muted, &e); err != nil {
			return err
		}
	}
	if err := r.save(ctx, ep); err != nil {
		return err
	}
	if muted {
		if err := r.q.AlertSubjectTouch(ctx, db.AlertSubjectTouchParams{CustomerID: r.customerID, Payer: s.Payer, CPTGroup: s.CPTGroup,
			DriftType: string(s.DriftType), RunID: &r.c.RunID}); err != nil {
			return fmt.Errorf("update alert subject: %w", err)
		}
		if err := r.q.DriftEventMarkSuppressed(ctx, db.DriftEventMarkSuppressedParams{CustomerID: r.customerID, ReportRunID: r.c.RunID,
			Payer: s.Payer, CPTGroup: s.CPTGroup, DriftType: string(s.DriftType)}); err != nil {
			return fmt.Errorf("mark alert suppressed: %w", err)
		}
		return nil
	}
	if State(cur.State) == Open {
		if err := r.q.AlertSubjectTouch(ctx, db.AlertSubjectTouchParams{CustomerID: r.customerID, Payer: s.Payer, CPTGroup: s.CPTGroup,
			DriftType: string(s.DriftType), RunID: &r.c.RunID}); err != nil {
			return fmt.Errorf("update alert subject: %w", err)
		}
		return nil
	}
	return r.open(ctx, s, &cur.State)
}

// open opens the subject (creating it) as of this run, and records the
// change from its state (nil: it is new).
func (r *reconciler) open(ctx context.Context, s Subject, from *string) error {
	if _, err := r.q.AlertSubjectOpen(ctx, db.AlertSubjectOpenParams{CustomerID: r.customerID, Payer: s.Payer, CPTGroup: s.CPTGroup,
		DriftType: string(s.DriftType), RunID: &r.c.RunID}); err != nil {
		return fmt.Errorf("open alert subject: %w", err)
	}
	if err := r.q.AlertSubjectChangeInsert(ctx, db.AlertSubjectChangeInsertParams{CustomerID: r.customerID, Payer: s.Payer,
		CPTGroup: s.CPTGroup, DriftType: string(s.DriftType), FromState: from, ToState: string(Open), Actor: System}); err != nil {
		return fmt.Errorf("record alert subject change: %w", err)
	}
	return nil
}

// resolve ends an open episode and resolves its subject.
func (r *reconciler) resolve(ctx context.Context, s Subject, ep *db.AlertEpisode, actor string, runID *int64) error {
	cur, found, _, snoozed, err := r.subject(ctx, s)
	if err != nil {
		return err
	}
	now := time.Now()
	ep.ResolvedAt, ep.ResolvedBy = &now, &actor
	if _, err := r.transition(ctx, s, ep, KindResolved, actor, runID, nil, !snoozed, nil); err != nil {
		return err
	}
	if err := r.save(ctx, ep); err != nil {
		return err
	}
	if !found || State(cur.State) == Resolved || snoozed {
		return nil // a running snooze stays until its date, episodes or not
	}
	if _, err := r.q.AlertSubjectSetState(ctx, db.AlertSubjectSetStateParams{CustomerID: r.customerID, Payer: s.Payer, CPTGroup: s.CPTGroup,
		DriftType: string(s.DriftType), State: string(Resolved), Actor: actor}); err != nil {
		return fmt.Errorf("resolve alert subject: %w", err)
	}
	if err := r.q.AlertSubjectChangeInsert(ctx, db.AlertSubjectChangeInsertParams{CustomerID: r.customerID, Payer: s.Payer,
		CPTGroup: s.CPTGroup, DriftType: string(s.DriftType), FromState: &cur.State, ToState: string(Resolved), Actor: actor}); err != nil {
		return fmt.Errorf("record alert subject change: %w", err)
	}
	return nil
}

// transition records the episode's next transition, and queues it for
// delivery when deliver is true.
func (r *reconciler) transition(ctx context.Context, s Subject, ep *db.AlertEpisode, kind Kind, actor string, runID *int64, note *string,
	deliver bool, alert *drift.EventView) (db.AlertTransition, error) {
	ep.Transitions++
	row, err := r.q.AlertTransitionInsert(ctx, db.AlertTransitionInsertParams{CustomerID: r.customerID, EpisodeID: ep.ID, Seq: ep.Transitions,
		Kind: string(kind), ReportRunID: runID, Severity: ep.Severity, Direction: ep.Direction, Actor: actor, Note: note})
	if err != nil {
		return row, fmt.Errorf("record alert transition: %w", err)
	}
	if deliver && kind.Notifies() {
		r.deliver = append(r.deliver, Transition{ID: row.ID, EpisodeID: ep.ID, Seq: int(row.Seq), Kind: kind, Subject: s,
			Severity: ep.Severity, Direction: int(ep.Direction), OpenedAsOf: ep.OpenedAsOf, Actor: actor, At: row.CreatedAt,
			RunID: runID, Alert: alert})
	}
	return row, nil
}

func (r *reconciler) save(ctx context.Context, ep *db.AlertEpisode) error {
	if err := r.q.AlertEpisodeSave(ctx, db.AlertEpisodeSaveParams{CustomerID: r.customerID, ID: ep.ID,
		LastAlertRunID: ep.LastAlertRunID, LastAlertAsOf: ep.LastAlertAsOf, Severity: ep.Severity, Direction: ep.Direction,
		QuietRuns: ep.QuietRuns, LastQuietAsOf: ep.LastQuietAsOf, Transitions: ep.Transitions,
		ResolvedAt: ep.ResolvedAt, ResolvedBy: ep.ResolvedBy}); err != nil {
		return fmt.Errorf("save alert episode: %w", err)
	}
	return nil
}

func escalated(ep *db.AlertEpisode, severity float64, direction int16) bool {
	return direction != ep.Direction || severity >= ep.Severity+EscalationStep-1e-9
}

func directionOf(delta float64) int16 {
	if delta < 0 {
		return -1
	}
	return 1
}

// Kind is what happened to an episode.
type Kind string

// The kinds of transition.
const (
	KindOpened       Kind = "opened"
	KindReopened     Kind = "reopened"
	KindEscalated    Kind = "escalated"
	KindResolved     Kind = "resolved"
	KindAcknowledged Kind = "acknowledged"
	KindSnoozed      Kind = "snoozed"
	// KindReminder is not a transition: an endpoint's reminder of an
	// episode still open (webhook payloads only).
	KindReminder Kind = "reminder"
)

// Notifies reports whether endpoints hear of the kind: people's
// acknowledgements and snoozes are history only.
func (k Kind) Notifies() bool {
	return k == KindOpened || k == KindReopened || k == KindEscalated || k == KindResolved
}

// Transition is one delivered transition of an episode.
type Transition struct {
	ID, EpisodeID int64
	Seq           int
	Kind          Kind
	Subject
	Severity   float64
	Direction  int // +1 up (worse denial rate or slower), -1 down
	OpenedAsOf time.Time
	Actor      string
	At         time.Time
	RunID      *int64
	// Alert is the alert that made it (nil for a resolution).
	Alert *drift.EventView
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
// transaction, with its episode's history: acknowledging and snoozing
// are recorded on the open episode; resolving resolves it, a transition
// to deliver, which Apply returns.
func Apply(ctx context.Context, tx pgx.Tx, customerID int64, s Subject, c Change, today time.Time) (db.AlertSubject, []Transition, error) {
	if err := c.Validate(today); err != nil {
		return db.AlertSubject{}, nil, err
	}
	q := store.New(tx)
	s, err := resolveSubject(ctx, q, customerID, s)
	if err != nil {
		return db.AlertSubject{}, nil, err
	}
	// Lock as a computation does, the customer's open episodes first, then
	// the subject: the other order deadlocks with a computation running
	// beside the person's change.
	open, err := q.AlertEpisodeListOpenForUpdate(ctx, customerID)
	if err != nil {
		return db.AlertSubject{}, nil, fmt.Errorf("list open alert episodes: %w", err)
	}
	cur, err := q.AlertSubjectGetForUpdate(ctx, db.AlertSubjectGetForUpdateParams{CustomerID: customerID, Payer: s.Payer,
		CPTGroup: s.CPTGroup, DriftType: string(s.DriftType)})
	if errors.Is(err, store.ErrNotFound) {
		return db.AlertSubject{}, nil, ErrSubjectNotFound
	}
	if err != nil {
		return db.AlertSubject{}, nil, fmt.Errorf("look up alert subject: %w", err)
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
		return db.AlertSubject{}, nil, fmt.Errorf("update alert subject: %w", err)
	}
	if err := q.AlertSubjectChangeInsert(ctx, db.AlertSubjectChangeInsertParams{CustomerID: customerID, Payer: s.Payer, CPTGroup: s.CPTGroup,
		DriftType: string(s.DriftType), FromState: &cur.State, ToState: string(c.To), Note: note, SnoozedUntil: until, Actor: c.Actor}); err != nil {
		return db.AlertSubject{}, nil, fmt.Errorf("record alert subject change: %w", err)
	}
	i := slices.IndexFunc(open, func(e db.AlertEpisode) bool {
		return e.Payer == s.Payer && e.CPTGroup == s.CPTGroup && e.DriftType == string(s.DriftType)
	})
	if i < 0 {
		return updated, nil, nil // no episode open: the subject's state is all there is
	}
	ep := open[i]
	r := reconciler{q: q, customerID: customerID, c: Computation{Today: today}}
	kind := map[State]Kind{Acknowledged: KindAcknowledged, Snoozed: KindSnoozed, Resolved: KindResolved}[c.To]
	if kind == KindResolved {
		now := time.Now()
		ep.ResolvedAt, ep.ResolvedBy = &now, &c.Actor
	}
	if _, err := r.transition(ctx, s, &ep, kind, c.Actor, nil, note, true, nil); err != nil {
		return db.AlertSubject{}, nil, err
	}
	if err := r.save(ctx, &ep); err != nil {
		return db.AlertSubject{}, nil, err
	}
	return updated, r.deliver, nil
}

// Notify delivers transitions inside the transaction that made them.
type Notify func(ctx context.Context, tx pgx.Tx, ts []Transition) error

// resolveSubject matches the payer and CPT group a person typed against
// the customer's subjects, as drift.MatchName does.
func resolveSubject(ctx context.Context, q *db.Queries, customerID int64, s Subject) (Subject, error) {
	subjects, err := q.AlertSubjectListCells(ctx, customerID)
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

// List returns a page of the customer's subjects, most recently changed
// first: at most limit, after the subject after (nil: from the first).
func List(ctx context.Context, q *db.Queries, customerID int64, after *SubjectView, limit int) ([]SubjectView, error) {
	p := db.AlertSubjectListByCustomerParams{CustomerID: customerID, MaxRows: int32(limit)}
	if after != nil {
		p.HasAfter, p.AfterUpdatedAt, p.AfterPayer, p.AfterCPTGroup, p.AfterDriftType =
			true, after.UpdatedAt, after.Payer, after.CPTGroup, string(after.DriftType)
	}
	rows, err := q.AlertSubjectListByCustomer(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("list alert subjects: %w", err)
	}
	out := make([]SubjectView, len(rows))
	for i, r := range rows {
		out[i] = ViewSubject(r)
	}
	return out, nil
}

// Update applies c to a subject in a transaction of its own, and
// notifies its transitions in it.
func Update(ctx context.Context, pool *pgxpool.Pool, notify Notify, customerID int64, s Subject, c Change, today time.Time) (SubjectView, error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return SubjectView{}, fmt.Errorf("begin alert change: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	updated, ts, err := Apply(ctx, tx, customerID, s, c, today)
	if err != nil {
		return SubjectView{}, err
	}
	if err := notify(ctx, tx, ts); err != nil {
		return SubjectView{}, err
	}
	if err := tx.Commit(ctx); err != nil {
		return SubjectView{}, fmt.Errorf("commit alert change: %w", err)
	}
	return ViewSubject(updated), nil
}

// Bounds of a subject's history: its latest episodes, and their
// transitions (the oldest episodes' first when there are more).
const (
	MaxEpisodesListed    = 20
	MaxTransitionsListed = 2000
)

// EpisodeView is one episode of a subject with everything that happened
// to it.
type EpisodeView struct {
	ID          int64            `json:"id"`
	OpenedAsOf  string           `json:"opened_as_of"`
	LastAlertAt string           `json:"last_alert_as_of"`
	Severity    float64          `json:"severity"` // as last notified
	Direction   string           `json:"direction"`
	ResolvedAt  *time.Time       `json:"resolved_at"`
	ResolvedBy  *string          `json:"resolved_by"`
	Transitions []TransitionView `json:"transitions"`
}

// TransitionView is one transition of an episode.
type TransitionView struct {
	Seq       int       `json:"seq"`
	Kind      Kind      `json:"kind"`
	Actor     string    `json:"actor"`
	Note      *string   `json:"note"`
	Severity  float64   `json:"severity"`
	Direction string    `json:"direction"`
	RunID     *int64    `json:"report_run_id"`
	At        time.Time `json:"at"`
}

func directionName(d int16) string {
	if d < 0 {
		return "down"
	}
	return "up"
}

// History returns a page of a subject's episodes, newest first, before
// the episode beforeID (0: the newest), MaxEpisodesListed at most, each
// with its transitions in order, and the id to pass as beforeID for the
// next page (0 after the last). A subject that never alerted is
// ErrSubjectNotFound.
func History(ctx context.Context, q *db.Queries, customerID int64, s Subject, beforeID int64) ([]EpisodeView, int64, error) {
	s, err := resolveSubject(ctx, q, customerID, s)
	if err != nil {
		return nil, 0, err
	}
	eps, err := q.AlertEpisodeListBySubject(ctx, db.AlertEpisodeListBySubjectParams{CustomerID: customerID, Payer: s.Payer,
		CPTGroup: s.CPTGroup, DriftType: string(s.DriftType), BeforeID: beforeID, MaxRows: MaxEpisodesListed + 1})
	if err != nil {
		return nil, 0, fmt.Errorf("list alert episodes: %w", err)
	}
	if len(eps) == 0 && beforeID == 0 {
		return nil, 0, ErrSubjectNotFound
	}
	var next int64
	if len(eps) > MaxEpisodesListed {
		eps = eps[:MaxEpisodesListed]
		next = eps[MaxEpisodesListed-1].ID
	}
	ids := make([]int64, len(eps))
	out := make([]EpisodeView, len(eps))
	byID := map[int64]*EpisodeView{}
	for i, e := range eps {
		ids[i] = e.ID
		out[i] = EpisodeView{ID: e.ID, OpenedAsOf: e.OpenedAsOf.Format(time.DateOnly), LastAlertAt: e.LastAlertAsOf.Format(time.DateOnly),
			Severity: e.Severity, Direction: directionName(e.Direction), ResolvedAt: e.ResolvedAt, ResolvedBy: e.ResolvedBy,
			Transitions: []TransitionView{}}
		byID[e.ID] = &out[i]
	}
	ts, err := q.AlertTransitionListByEpisodes(ctx, db.AlertTransitionListByEpisodesParams{CustomerID: customerID, EpisodeIds: ids,
		MaxRows: MaxTransitionsListed})
	if err != nil {
		return nil, 0, fmt.Errorf("list alert transitions: %w", err)
	}
	for _, t := range ts {
		e := byID[t.EpisodeID]
		e.Transitions = append(e.Transitions, TransitionView{Seq: int(t.Seq), Kind: Kind(t.Kind), Actor: t.Actor, Note: t.Note,
			Severity: t.Severity, Direction: directionName(t.Direction), RunID: t.ReportRunID, At: t.CreatedAt})
	}
	return out, next, nil
}
