package main

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"text/tabwriter"
	"time"

	"github.com/upstream-rcm/upstream/internal/alerts"
	"github.com/upstream-rcm/upstream/internal/drift"
	"github.com/upstream-rcm/upstream/internal/store"
	"github.com/upstream-rcm/upstream/internal/webhooks"
	"github.com/upstream-rcm/upstream/jobs"
)

// AlertsCmd groups the alert lifecycle commands.
type AlertsCmd struct {
	List    AlertsListCmd    `cmd:"" help:"A customer's alert subjects and their state."`
	Ack     AlertsAckCmd     `cmd:"" help:"Acknowledge: keep recording its alerts, stop delivering them."`
	Snooze  AlertsSnoozeCmd  `cmd:"" help:"Stop delivering until a date."`
	Resolve AlertsResolveCmd `cmd:"" help:"Resolve: the next alert opens it again and is delivered."`
	History AlertsHistoryCmd `cmd:"" help:"A subject's episodes: opened, escalated, acknowledged, snoozed, resolved, by whom."`
}

// AlertsHistoryCmd shows a subject's episodes.
type AlertsHistoryCmd struct {
	Customer  string `required:"" help:"Customer name."`
	Payer     string `required:"" help:"Payer (as shown by 'alerts list')."`
	CPTGroup  string `required:"" name:"cpt-group" help:"CPT group."`
	DriftType string `required:"" name:"drift-type" help:"DENIAL_RATE or DECISION_TIME."`
	JSON      bool   `name:"json" help:"Print JSON."`
}

// Run prints the episodes, newest first, each with its transitions.
func (c *AlertsHistoryCmd) Run(ctx context.Context, e *env) error {
	typ, err := drift.ParseType(c.DriftType)
	if err != nil {
		return usage(fmt.Errorf("--drift-type: %w", err))
	}
	pool, cust, err := e.openCustomer(ctx, c.Customer, 2)
	if err != nil {
		return err
	}
	defer pool.Close()
	episodes, _, err := alerts.History(ctx, store.New(pool), cust.ID, alerts.Subject{Payer: c.Payer, CPTGroup: c.CPTGroup, DriftType: typ}, 0)
	if err != nil {
		return err
	}
	if c.JSON {
		return printJSON(map[string]any{"episodes": episodes})
	}
	for _, ep := range episodes {
		state := "open"
		if ep.ResolvedAt != nil {
			state = "resolved by " + *ep.ResolvedBy
		}
		fmt.Printf("episode %d, opened as of %s, last alert as of %s: %s\n", ep.ID, ep.OpenedAsOf, ep.LastAlertAt, state)
		for _, t := range ep.Transitions {
			note := ""
			if t.Note != nil {
				note = ": " + *t.Note
			}
			fmt.Printf("  %d. %s %-12s severity %.2f %s, by %s%s\n", t.Seq, t.At.UTC().Format(time.RFC3339), t.Kind, t.Severity, t.Direction, t.Actor, note)
		}
	}
	return nil
}

// AlertsListCmd lists subjects.
type AlertsListCmd struct {
	Customer string `required:"" help:"Customer name."`
	JSON     bool   `name:"json" help:"Print JSON."`
}

// Run lists the subjects.
func (c *AlertsListCmd) Run(ctx context.Context, e *env) error {
	pool, cust, err := e.openCustomer(ctx, c.Customer, 2)
	if err != nil {
		return err
	}
	defer pool.Close()
	subjects, err := allPages(func(after *alerts.SubjectView) ([]alerts.SubjectView, error) {
		return alerts.List(ctx, store.New(pool), cust.ID, after, cliPageSize)
	})
	if err != nil {
		return err
	}
	if c.JSON {
		return printJSON(map[string]any{"alerts": subjects})
	}
	if len(subjects) == 0 {
		fmt.Println("no alerts yet")
		return nil
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PAYER\tCPT GROUP\tDRIFT\tSTATE\tUNTIL\tLAST RUN\tCHANGED\tBY\tNOTE")
	for _, s := range subjects {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Payer, s.CPTGroup, s.DriftType, s.State, orDash(s.SnoozedUntil, ""),
			orDash(s.LastAlertRunID, ""), s.UpdatedAt.UTC().Format(time.RFC3339), s.UpdatedBy, orDash(s.Note, ""))
	}
	return tw.Flush()
}

// alertSubject names a subject on the command line.
type alertSubject struct {
	Customer  string `required:"" help:"Customer name."`
	Payer     string `required:"" help:"Payer (as shown by 'alerts list')."`
	CPTGroup  string `required:"" name:"cpt-group" help:"CPT group."`
	DriftType string `required:"" name:"drift-type" help:"DENIAL_RATE or DECISION_TIME (drift events show it)."`
	Note      string `help:"Why (kept with the change)."`
}

func (a *alertSubject) apply(ctx context.Context, e *env, to alerts.State, until time.Time) error {
	typ, err := drift.ParseType(a.DriftType)
	if err != nil {
		return usage(fmt.Errorf("--drift-type: %w", err))
	}
	pool, cust, err := e.openCustomer(ctx, a.Customer, 2)
	if err != nil {
		return err
	}
	defer pool.Close()
	client, err := e.riverClient(pool, nil) // insert only: a resolution's messages
	if err != nil {
		return err
	}
	notify := webhooks.Notifier(jobs.NewEnqueuer(client), cust.ID, "", time.Now())
	view, err := alerts.Update(ctx, pool, notify, cust.ID, alerts.Subject{Payer: a.Payer, CPTGroup: a.CPTGroup, DriftType: typ},
		alerts.Change{To: to, Note: a.Note, Until: until, Actor: cliActor()}, time.Now())
	if err != nil {
		return err
	}
	fmt.Printf("%s / %s / %s: %s\n", view.Payer, view.CPTGroup, view.DriftType, view.State)
	return nil
}

// cliActor names who changed a subject from the command line.
func cliActor() string {
	if u, err := user.Current(); err == nil {
		return "cli:" + u.Username
	}
	return "cli"
}

// AlertsAckCmd acknowledges a subject.
type AlertsAckCmd struct{ alertSubject }

// Run acknowledges it.
func (c *AlertsAckCmd) Run(ctx context.Context, e *env) error {
	return c.apply(ctx, e, alerts.Acknowledged, time.Time{})
}

// AlertsSnoozeCmd snoozes a subject.
type AlertsSnoozeCmd struct {
	alertSubject
	Until string `required:"" help:"First day it may be delivered again (YYYY-MM-DD)."`
}

// Run snoozes it.
func (c *AlertsSnoozeCmd) Run(ctx context.Context, e *env) error {
	until, err := parseDateFlag("--until", c.Until, time.Time{})
	if err != nil {
		return err
	}
	return c.apply(ctx, e, alerts.Snoozed, until)
}

// AlertsResolveCmd resolves a subject.
type AlertsResolveCmd struct{ alertSubject }

// Run resolves it.
func (c *AlertsResolveCmd) Run(ctx context.Context, e *env) error {
	return c.apply(ctx, e, alerts.Resolved, time.Time{})
}
