package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/riverqueue/river/rivertype"

	"github.com/upstream-rcm/upstream/internal/db"
	"github.com/upstream-rcm/upstream/internal/drift"
	"github.com/upstream-rcm/upstream/internal/store"
	"github.com/upstream-rcm/upstream/internal/trends"
	"github.com/upstream-rcm/upstream/internal/worklist"
	"github.com/upstream-rcm/upstream/jobs"
)

// DriftCmd groups the drift commands.
type DriftCmd struct {
	Run    DriftRunCmd    `cmd:"" help:"Enqueue a manual drift computation."`
	Runs   DriftRunsCmd   `cmd:"" help:"List a customer's report runs, newest first."`
	Events DriftEventsCmd `cmd:"" help:"Show drift events (latest successful run by default), by severity."`
	Trend  DriftTrendCmd  `cmd:"" help:"Weekly trend of one payer and CPT group: volume, denial rate with its interval, median days, alerts."`
	Claims DriftClaimsCmd `cmd:"" help:"The claims behind an alert (a worklist): each counted claim of the payer and CPT group in the alert's window, with its final outcome."`
}

// DriftRunCmd enqueues a manual drift job.
type DriftRunCmd struct {
	Customer     string        `required:"" help:"Customer name."`
	AsOf         string        `name:"as-of" help:"As-of date YYYY-MM-DD (default: today, UTC)."`
	BaselineDays int           `name:"baseline-days" default:"90" help:"Baseline window length in days."`
	CurrentDays  int           `name:"current-days" default:"14" help:"Current window length in days."`
	MinVolume    int           `name:"min-volume" default:"30" help:"Minimum claims per window for the seed rule to consider a group (alerts need evidence, not volume)."`
	FDR          float64       `name:"fdr" default:"0.05" help:"False discovery rate: an alert needs a q-value (Benjamini-Hochberg over the run's tests) at most this."`
	Wait         bool          `help:"Work the job in this process (alongside any running workers) and print the run."`
	Timeout      time.Duration `default:"5m" help:"With --wait: how long to wait."`
	JSON         bool          `name:"json" help:"Print JSON."`
}

// Run enqueues the job and, with --wait, works it and prints the result.
func (c *DriftRunCmd) Run(ctx context.Context, e *env) error {
	asOf, err := parseDateFlag("--as-of", c.AsOf, drift.Date(time.Now()))
	if err != nil {
		return err
	}
	params := drift.Params{AsOf: asOf, BaselineDays: c.BaselineDays, CurrentDays: c.CurrentDays, MinVolume: c.MinVolume, FDR: c.FDR}
	if err := params.Validate(); err != nil {
		var pe *drift.ParamError
		if errors.As(err, &pe) {
			return usage(fmt.Errorf("--%s %s", strings.ReplaceAll(pe.Param, "_", "-"), pe.Message))
		}
		return usage(err)
	}
	pool, cust, err := e.openCustomer(ctx, c.Customer, 8)
	if err != nil {
		return err
	}
	defer pool.Close()
	client, err := e.riverClient(pool, nil)
	if err != nil {
		return err
	}
	res, err := client.Insert(ctx, jobs.ManualDrift(cust.ID, params), nil)
	if err != nil {
		return fmt.Errorf("enqueue drift job: %w", err)
	}
	jobID := res.Job.ID
	if !c.Wait {
		if c.JSON {
			return printJSON(map[string]any{"job_id": jobID})
		}
		fmt.Printf("drift job %d enqueued for %s as of %s\n", jobID, cust.Name, asOf.Format(time.DateOnly))
		printWorkerHint(ctx, pool, cust.Name)
		return nil
	}

	states, err := e.workUntilFinalized(ctx, pool, jobs.Workers{jobs.QueueDrift: 2}, c.Timeout, jobID)
	if err != nil && ctx.Err() != nil {
		// The job is in River, not in this process: it was not lost.
		return fmt.Errorf("stopped waiting: drift job %d stays queued, and a worker will run it (or finish the run this process started); see `upstream drift runs --customer %s`: %w",
			jobID, cust.Name, err)
	}
	if err != nil {
		return err
	}
	if state := states[0]; state != rivertype.JobStateCompleted {
		return fmt.Errorf("drift job %d ended %s without a successful run", jobID, state)
	}
	run, err := drift.LoadRunOfJob(ctx, store.New(pool), jobID)
	if err != nil {
		return err
	}
	return printRun(run, runOutput{json: c.JSON})
}

// DriftRunsCmd lists runs.
type DriftRunsCmd struct {
	Customer string `required:"" help:"Customer name."`
	Limit    int    `default:"50" help:"How many runs to show."`
	JSON     bool   `name:"json" help:"Print JSON."`
}

// Run lists the customer's runs, newest first.
func (c *DriftRunsCmd) Run(ctx context.Context, e *env) error {
	pool, cust, err := e.openCustomer(ctx, c.Customer, 2)
	if err != nil {
		return err
	}
	defer pool.Close()
	q := store.New(pool)
	runs, err := q.ReportRunListByCustomer(ctx, db.ReportRunListByCustomerParams{CustomerID: cust.ID, MaxRows: int32(c.Limit)})
	if err != nil {
		return err
	}
	views := drift.ViewRuns(runs)
	if c.JSON {
		return printJSON(map[string]any{"report_runs": views})
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTYPE\tAS OF\tSTATUS\tATTEMPT\tSTARTED\tDURATION\tGROUPS\tALERTS\tEVENTS\tCLAIMS READ\tERROR")
	for _, r := range views {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.RunType, r.AsOf, r.Status, r.Attempt,
			r.StartedAt.UTC().Format(time.RFC3339), orDash(r.Summary.DurationMs, "ms"), orDash(r.Summary.GroupsConsidered, ""),
			orDash(r.Summary.AlertsCreated, ""), orDash(r.Summary.EventsCreated, ""), orDash(r.Summary.ClaimsRead, ""), orDash(r.Error, ""))
	}
	return tw.Flush()
}

func orDash[T any](p *T, unit string) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprint(*p) + unit
}

// countOrDash counts *n things, or says "- nouns" when unknown (runs
// recorded before the count existed).
func countOrDash(n *int32, noun string) string {
	if n == nil {
		return "- " + noun + "s"
	}
	return count(int(*n), noun)
}

// DriftEventsCmd shows events.
type DriftEventsCmd struct {
	Customer string `required:"" help:"Customer name."`
	RunID    int64  `name:"run" help:"Report run ID (default: the latest successful run)."`
	JSON     bool   `name:"json" xor:"format" help:"Print JSON (every event, with its flags)."`
	CSV      bool   `name:"csv" xor:"format" help:"Print CSV (every event, with its flags)."`
	Alerts   bool   `name:"alerts" help:"Only alerts (JSON and CSV)."`
	All      bool   `name:"all" help:"Table: show the events that are not alerts too."`
}

// Run prints the events of one run, by severity.
func (c *DriftEventsCmd) Run(ctx context.Context, e *env) error {
	pool, cust, err := e.openCustomer(ctx, c.Customer, 2)
	if err != nil {
		return err
	}
	defer pool.Close()
	out, err := drift.LoadRun(ctx, store.New(pool), cust.ID, c.RunID)
	switch {
	case errors.Is(err, drift.ErrRunNotFound):
		return fmt.Errorf("customer %q has no report run %d", cust.Name, c.RunID)
	case errors.Is(err, drift.ErrNoSuccessfulRun):
		return fmt.Errorf("customer %q has no successful report run yet: upload claims or run `upstream drift run --wait`", cust.Name)
	case err != nil:
		return err
	}
	if c.Alerts {
		out.Events, _ = drift.Alerts(out.Events)
	}
	return printRun(out, runOutput{json: c.JSON, csv: c.CSV, all: c.All})
}

// runOutput is how printRun prints: JSON, CSV, or a table of the alerts
// (and with all, the other events).
type runOutput struct{ json, csv, all bool }

func printRun(out drift.RunWithEvents, how runOutput) error {
	switch {
	case how.json:
		return printJSON(out)
	case how.csv:
		return drift.WriteEventsCSV(os.Stdout, out.Events)
	}
	r := out.ReportRun
	fmt.Printf("report run %d (%s, as of %s): %s", r.ID, r.RunType, r.AsOf, r.Status)
	if r.Status == drift.RunSuccess {
		fmt.Printf(", %s considered, %s read, %s, %s, %s, %d ms\n", count(int(*r.Summary.GroupsConsidered), "group"),
			count(int(*r.Summary.ClaimsRead), "claim"), countOrDash(r.Summary.TestsRun, "test"), countOrDash(r.Summary.AlertsCreated, "alert"),
			count(int(*r.Summary.EventsCreated), "event"), *r.Summary.DurationMs)
		fmt.Printf("baseline %s .. %s, current %s .. %s (end dates exclusive)\n", *r.Summary.BaselineStart, *r.Summary.BaselineEnd,
			*r.Summary.CurrentStart, *r.Summary.CurrentEnd)
		if n := r.Summary.GroupsSkipped; n != nil && *n > 0 {
			var names []string
			for _, g := range r.Summary.SkippedGroups[:min(5, len(r.Summary.SkippedGroups))] {
				names = append(names, fmt.Sprintf("%s/%s (%d/%d)", g.Payer, g.CPTGroup, g.BaselineVolume, g.CurrentVolume))
			}
			more := ""
			if int(*n) > len(names) {
				more = fmt.Sprintf(" and %d more", int(*n)-len(names))
			}
			fmt.Printf("seed rule skipped %s below min volume %d (claims base/cur): %s%s\n", count(int(*n), "group"), r.MinVolume, strings.Join(names, ", "), more)
		}
		if o := r.Summary.Overturns; len(o) > 0 && o[0].Overturned > 0 {
			var cells []string
			for _, c := range o[:min(5, len(o))] {
				if c.Overturned > 0 {
					cells = append(cells, fmt.Sprintf("%s/%s %d of %d (%.0f%%)", c.Payer, c.CPTGroup, c.Overturned, c.InitiallyDenied, 100*c.Rate))
				}
			}
			fmt.Printf("overturned on appeal (claims initially denied in the windows, finally paid): %s\n", strings.Join(cells, ", "))
		}
	} else {
		fmt.Printf(" (%s)\n", orDash(r.Error, ""))
	}
	alerts, others := drift.Alerts(out.Events)
	if len(alerts) == 0 {
		fmt.Println("\nno alerts")
	} else {
		fmt.Printf("\n%s (q <= %g; claims decided in each window):\n", count(len(alerts), "alert"), r.FDR)
		if err := printAlertTable(alerts); err != nil {
			return err
		}
		printDrivers(alerts)
	}
	if len(others) == 0 {
		return nil
	}
	if !how.all {
		fmt.Printf("\n%d other %s (the seed rule fired without the evidence of an alert); --all shows them\n", len(others), plural(len(others), "event", "events"))
		return nil
	}
	fmt.Printf("\n%d other events (seed rule; claims submitted in each window):\n", len(others))
	return printEventTable(others)
}

func printAlertTable(events []drift.EventView) error {
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "AT STAKE\tSEVERITY\tPAYER\tCPT GROUP\tDRIFT\tBASELINE\tCURRENT\tCURRENT WINDOW\tCHANGE\t95% INTERVAL\tEVIDENCE\tQ\tN (BASE/CUR)\tSEED RULE")
	for _, ev := range events {
		b, c, nb, nc := ev.Compared()
		fmt.Fprintf(tw, "%s\t%.2f\t%s\t%s\t%s\t%s\t%s\tlast %d d\t%s\t%s\t%s\t%.2g\t%d/%d\t%s\n", orText(ev.FormatDollars(), "no amounts"),
			ev.Severity, ev.Payer, ev.CPTGroup, ev.DriftType,
			drift.FormatValue(ev.DriftType, b), drift.FormatValue(ev.DriftType, c), ev.CurrentDays(), drift.FormatDelta(ev.DriftType, c-b),
			orText(ev.FormatInterval(), "-"), ev.EvidenceWords(), *ev.QValue, nb, nc, map[bool]string{true: "fired", false: "silent"}[ev.SeedRule])
	}
	return tw.Flush()
}

// printDrivers says what moved each DENIAL_RATE alert: the codes whose
// share of the rate changed most.
func printDrivers(alerts []drift.EventView) {
	for _, ev := range alerts {
		d := ev.Drivers
		if d != nil && d.Late != nil {
			l := d.Late
			fmt.Printf("\nwhy %s / %s's decisions are slower: %.0f%% of the claims decided took longer than %.0f days (the baseline's 75th percentile), against %.0f%%:\n",
				ev.Payer, ev.CPTGroup, 100*l.CurrentShare, l.ThresholdDays, 100*l.BaselineShare)
			for i, c := range l.CPTCodes {
				fmt.Printf("  %-15s %s\n", map[bool]string{true: "CPT codes"}[i == 0], drift.FormatLateCode(c))
			}
			for i, w := range l.SubmissionWeeks {
				fmt.Printf("  %-15s %s\n", map[bool]string{true: "claims"}[i == 0], drift.FormatLateWeek(w))
			}
			continue
		}
		if d == nil || len(d.DenialReasons)+len(d.CPTCodes) == 0 {
			continue
		}
		b, c, _, _ := ev.Compared()
		fmt.Printf("\nwhy %s / %s's denial rate went %s (each code's denials per claim decided, by window):\n", ev.Payer, ev.CPTGroup,
			map[bool]string{true: "up", false: "down"}[c > b])
		for _, kind := range []struct {
			label string
			ds    []drift.Driver
		}{{"denial reasons", d.DenialReasons}, {"CPT codes", d.CPTCodes}} {
			for i, x := range kind.ds {
				label := ""
				if i == 0 {
					label = kind.label
				}
				fmt.Printf("  %-15s %s\n", label, drift.FormatDriver(x))
			}
		}
	}
}

func printEventTable(events []drift.EventView) error {
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SEVERITY\tPAYER\tCPT GROUP\tDRIFT\tBASELINE\tCURRENT\tCHANGE\tCONFIDENCE\tN (BASE/CUR)\tEVIDENCE")
	for _, ev := range events {
		fmt.Fprintf(tw, "%.2f\t%s\t%s\t%s\t%s\t%s\t%s\t%.2f\t%d/%d\t%s\n", ev.Severity, ev.Payer, ev.CPTGroup, ev.DriftType,
			drift.FormatValue(ev.DriftType, ev.BaselineValue), drift.FormatValue(ev.DriftType, ev.CurrentValue),
			drift.FormatDelta(ev.DriftType, ev.DeltaValue), ev.Confidence, ev.BaselineSampleSize, ev.CurrentSampleSize, ev.EvidenceWords())
	}
	return tw.Flush()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func orText(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}

// DriftTrendCmd prints a weekly series.
type DriftTrendCmd struct {
	Customer string `required:"" help:"Customer name."`
	Payer    string `required:"" help:"Payer (as in drift events)."`
	CPTGroup string `required:"" name:"cpt-group" help:"CPT group."`
	Weeks    int    `default:"26" help:"How many weeks (1 to 156)."`
	AsOf     string `name:"as-of" help:"Last week ends the day before (default: today)."`
	JSON     bool   `name:"json" help:"Print JSON."`
}

// Run prints the series, oldest week first.
func (c *DriftTrendCmd) Run(ctx context.Context, e *env) error {
	asOf, err := parseDateFlag("--as-of", c.AsOf, time.Now())
	if err != nil {
		return err
	}
	pool, cust, err := e.openCustomer(ctx, c.Customer, 2)
	if err != nil {
		return err
	}
	defer pool.Close()
	s, err := trends.WeeklySeries(ctx, store.New(pool), cust.ID, c.Payer, c.CPTGroup, asOf, c.Weeks)
	if err != nil {
		return err
	}
	if c.JSON {
		return printJSON(s)
	}
	fmt.Printf("%s / %s, claims decided each week:\n", s.Payer, s.CPTGroup)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "WEEK\tCLAIMS\tDENIAL RATE\t95% INTERVAL\tMEDIAN DAYS\tOVERTURNED\tALERTS")
	for _, w := range s.Weeks {
		rate, interval, median := "-", "-", "-"
		if w.Volume > 0 {
			rate = drift.FormatValue(drift.TypeDenialRate, w.DenialRate)
			interval = fmt.Sprintf("%.1f-%.1f%%", 100*w.RateLow, 100*w.RateHigh)
			median = drift.FormatValue(drift.TypeDecisionTime, *w.MedianDays)
		}
		var alerts []string
		for _, a := range w.Alerts {
			alerts = append(alerts, string(a))
		}
		overturned := "-"
		if w.OverturnRate != nil {
			overturned = fmt.Sprintf("%d of %d (%.0f%%)", w.Overturned, w.InitiallyDenied, 100**w.OverturnRate)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", w.Start, w.Volume, rate, interval, median, overturned, strings.Join(alerts, " "))
	}
	return tw.Flush()
}

// DriftClaimsCmd lists the claims behind an alert.
type DriftClaimsCmd struct {
	Customer string `required:"" help:"Customer name."`
	Payer    string `required:"" help:"Payer (as in drift events)."`
	CPTGroup string `required:"" name:"cpt-group" help:"CPT group."`
	Window   string `default:"current" enum:"current,baseline" help:"The alert's current or baseline window (current, baseline)."`
	Denied   bool   `help:"Only the claims initially denied."`
	RunID    int64  `name:"run" help:"Report run (default: the latest successful)."`
	CSV      bool   `name:"csv" xor:"format" help:"Print every claim as CSV (streamed; at most 100,000)."`
	JSON     bool   `name:"json" xor:"format" help:"Print JSON (one page of --limit claims, with next_cursor)."`
	Limit    int    `default:"100" help:"Claims per page (1 to 1000) for the table and JSON."`
	Cursor   string `help:"Continue after a page (its next_cursor)."`
}

// Run prints the worklist.
func (c *DriftClaimsCmd) Run(ctx context.Context, e *env) error {
	pool, cust, err := e.openCustomer(ctx, c.Customer, 2)
	if err != nil {
		return err
	}
	defer pool.Close()
	q := store.New(pool)
	r := worklist.Request{CustomerID: cust.ID, RunID: c.RunID, Payer: c.Payer, CPTGroup: c.CPTGroup, Window: c.Window,
		DeniedOnly: c.Denied, Cursor: c.Cursor, Limit: c.Limit}
	if c.CSV {
		out := bufio.NewWriter(os.Stdout)
		if err := worklist.WriteCSV(ctx, q, r, out); err != nil {
			return usageIfRequest(err)
		}
		return out.Flush()
	}
	p, err := worklist.List(ctx, q, r)
	if err != nil {
		return usageIfRequest(err)
	}
	if c.JSON {
		return printJSON(p)
	}
	fmt.Printf("%s / %s, claims decided %s to %s (end exclusive; the %s window of run %d)%s:\n", p.Payer, p.CPTGroup, p.Start, p.End,
		p.Window, p.ReportRunID, map[bool]string{true: ", initially denied", false: ""}[p.DeniedOnly])
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CLAIM ID\tSUBMITTED\tDECIDED\tDAYS\tCPT\tOUTCOME\tREASON\tCHARGE\tALLOWED\tFINAL")
	for _, cl := range p.Claims {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s (%s)\n", orText(orEmptyString(cl.ClaimID), "-"), cl.SubmittedDate, cl.DecidedDate,
			cl.DaysToDecision, cl.CPT, cl.Outcome, reasonText(cl), orText(orEmptyString(cl.ChargeAmount), "-"), orText(orEmptyString(cl.AllowedAmount), "-"),
			cl.FinalOutcome, cl.FinalDecidedDate)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if p.NextCursor != nil {
		fmt.Printf("more: --cursor %s (or --csv for every claim)\n", *p.NextCursor)
	}
	return nil
}

func reasonText(c worklist.Claim) string {
	code, text := orEmptyString(c.DenialReasonCode), orEmptyString(c.DenialReasonText)
	switch {
	case code == "" && text == "":
		return "-"
	case text == "":
		return code
	}
	return strings.TrimSpace(code + " " + text)
}

// usageIfRequest makes a worklist request error a usage error (exit 2).
func usageIfRequest(err error) error {
	if errors.As(err, new(*worklist.RequestError)) {
		return usage(err)
	}
	return err
}

func orEmptyString(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
