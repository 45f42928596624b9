package main

import (
	"context"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/upstream-rcm/upstream/internal/customers"
	"github.com/upstream-rcm/upstream/internal/db"
	"github.com/upstream-rcm/upstream/internal/store"
)

// CustomerCmd manages customers.
type CustomerCmd struct {
	Create CustomerCreateCmd `cmd:"" help:"Create a customer."`
	List   CustomerListCmd   `cmd:"" help:"List customers with their latest run."`
}

// CustomerListCmd lists customers.
type CustomerListCmd struct {
	JSON bool `name:"json" help:"Print JSON."`
}

// Run lists the customers.
func (c *CustomerListCmd) Run(ctx context.Context, e *env) error {
	pool, err := e.openPool(ctx, 2)
	if err != nil {
		return err
	}
	defer pool.Close()
	rows, err := allPages(func(after *db.CustomerListWithLatestRunRow) ([]db.CustomerListWithLatestRunRow, error) {
		p := db.CustomerListWithLatestRunParams{MaxRows: cliPageSize}
		if after != nil {
			p.AfterName = after.Name
		}
		return store.New(pool).CustomerListWithLatestRun(ctx, p)
	})
	if err != nil {
		return err
	}
	type customerView struct {
		ID          int64  `json:"id"`
		Name        string `json:"name"`
		Uploads     int32  `json:"uploads"`
		LatestRunID int64  `json:"latest_run_id,omitempty"`
		LatestRun   string `json:"latest_run,omitempty"`
	}
	views := make([]customerView, len(rows))
	for i, r := range rows {
		views[i] = customerView{ID: r.ID, Name: r.Name, Uploads: r.Uploads, LatestRunID: r.RunID}
		if r.RunID != 0 {
			views[i].LatestRun = fmt.Sprintf("%s as of %s, %s, %s", r.RunType, r.AsOf, r.Status, count(int(r.EventsCreated), "event"))
		}
	}
	if c.JSON {
		return printJSON(map[string]any{"customers": views})
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tUPLOADS\tLATEST RUN")
	for _, v := range views {
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s\n", v.ID, v.Name, v.Uploads, orText(v.LatestRun, "-"))
	}
	return tw.Flush()
}

// CustomerCreateCmd creates a customer.
type CustomerCreateCmd struct {
	Name string `arg:"" help:"Customer name (unique)."`
	JSON bool   `name:"json" help:"Print JSON."`
}

// Run creates the customer.
func (c *CustomerCreateCmd) Run(ctx context.Context, e *env) error {
	pool, err := e.openPool(ctx, 2)
	if err != nil {
		return err
	}
	defer pool.Close()
	cust, err := customers.Create(ctx, pool, c.Name)
	if err != nil {
		return err
	}
	if c.JSON {
		return printJSON(map[string]any{"id": cust.ID, "name": cust.Name})
	}
	fmt.Printf("created customer %d %q\n", cust.ID, cust.Name)
	return nil
}

// cliPageSize is the page a command reads its lists in.
const cliPageSize = 1000

// allPages reads a list page by page: read returns the page after the
// item after (nil: the first); a page shorter than cliPageSize is the last.
func allPages[T any](read func(after *T) ([]T, error)) ([]T, error) {
	var all []T
	var after *T
	for {
		page, err := read(after)
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		if len(page) < cliPageSize {
			return all, nil
		}
		after = &page[len(page)-1]
	}
}
