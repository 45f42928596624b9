package main

import (
	"context"
	"fmt"
	"time"

	"github.com/riverqueue/river/rivertype"

	"github.com/upstream-rcm/upstream/jobs"
)

// WeeklyCmd runs the weekly fan-out now.
type WeeklyCmd struct {
	AsOf     string        `name:"as-of" help:"A day YYYY-MM-DD of the week to run (default: this week): the run is as of that week's scheduled date, so any day of a week gives the same run."`
	Schedule string        `env:"UPSTREAM_WEEKLY_SCHEDULE" default:"${weekly_schedule}" help:"Cron schedule (UTC) that defines this week's date."`
	Wait     bool          `help:"Work the weekly jobs in this process too and wait until they finish."`
	Timeout  time.Duration `default:"10m" help:"With --wait: how long to wait."`
}

// Run enqueues the week's drift job for every customer lacking a
// successful weekly run, exactly as the schedule would.
func (c *WeeklyCmd) Run(ctx context.Context, e *env) error {
	schedule, err := jobs.ParseWeeklySchedule(c.Schedule)
	if err != nil {
		return err
	}
	asOf := schedule.AsOf(time.Now())
	if c.AsOf != "" {
		day, err := parseDateFlag("--as-of", c.AsOf, time.Time{})
		if err != nil {
			return err
		}
		if asOf = schedule.WeekOf(day); !asOf.Equal(day) {
			fmt.Printf("%s is in the week scheduled on %s (%s): running that week\n", c.AsOf, asOf.Format(time.DateOnly), c.Schedule)
		}
	}
	pool, err := e.openPool(ctx, 8)
	if err != nil {
		return err
	}
	defer pool.Close()
	client, err := e.riverClient(pool, nil)
	if err != nil {
		return err
	}
	res, err := jobs.FanOut(ctx, pool, client, asOf)
	if err != nil {
		return err
	}
	fmt.Printf("weekly fan-out as of %s: %s without a successful weekly run, %s enqueued (%d already queued)\n",
		asOf.Format(time.DateOnly), count(res.Candidates, "customer"), count(res.Enqueued, "job"), res.Candidates-res.Enqueued)
	if !c.Wait || len(res.JobIDs) == 0 {
		return nil
	}
	states, err := e.workUntilFinalized(ctx, pool, jobs.Workers{jobs.QueueDrift: 4}, c.Timeout, res.JobIDs...)
	if err != nil {
		return err
	}
	counts := map[rivertype.JobState]int{}
	for _, state := range states {
		counts[state]++
	}
	fmt.Printf("weekly jobs finished: %d completed, %d discarded, %d cancelled\n", counts[rivertype.JobStateCompleted], counts[rivertype.JobStateDiscarded], counts[rivertype.JobStateCancelled])
	if counts[rivertype.JobStateCompleted] != len(res.JobIDs) {
		return fmt.Errorf("%d weekly jobs did not complete: see `upstream jobs` and `upstream drift runs`", len(res.JobIDs)-counts[rivertype.JobStateCompleted])
	}
	return nil
}
