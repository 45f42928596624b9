package customers_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/upstream-rcm/upstream/internal/customers"
	"github.com/upstream-rcm/upstream/internal/db"
	"github.com/upstream-rcm/upstream/internal/drift"
	"github.com/upstream-rcm/upstream/internal/testdb"
	"github.com/upstream-rcm/upstream/internal/testfactory"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

// Deleting a customer removes every row it owns, in every table, and
// nothing of another customer.
func TestDeleteCustomerLeavesNoOrphans(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	uploader := testfactory.Uploader(t, pool)
	end := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	var ids []int64
	for _, name := range []string{"acme", "globex"} {
		id := testfactory.Customer(t, pool, name)
		ids = append(ids, id)
		if _, err := customers.IssueAPIKey(ctx, db.New(pool), id); err != nil {
			t.Fatal(err)
		}
		testfactory.Upload(t, uploader, id, testfactory.Synthetic(50, name, end)...)
		testfactory.ReportRun(t, pool, id, nil, drift.Event{Payer: "A", CPTGroup: "G", Type: drift.TypeDenialRate, Severity: 0.5, Confidence: 1})
		if _, err := pool.Exec(ctx, `INSERT INTO payer_mappings (customer_id, raw_name, raw_name_key, normalized_name) VALUES ($1, 'X', 'x', 'Y')`, id); err != nil {
			t.Fatal(err)
		}
	}
	tables := []string{"uploads", "claim_records", "claim_stats", "drift_requests", "report_runs", "drift_events", "api_keys", "payer_mappings"}
	count := func(table string, customerID int64) int {
		var n int
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+table+" WHERE customer_id = $1", customerID).Scan(&n); err != nil {
			t.Fatalf("count %s: %v", table, err)
		}
		return n
	}
	for _, table := range tables {
		if count(table, ids[0]) == 0 {
			t.Fatalf("fixture has no %s rows", table)
		}
	}
	if err := customers.Delete(ctx, db.New(pool), ids[0]); err != nil {
		t.Fatal(err)
	}
	for _, table := range tables {
		if n := count(table, ids[0]); n != 0 {
			t.Errorf("%d %s rows of the deleted customer remain", n, table)
		}
		if count(table, ids[1]) == 0 {
			t.Errorf("the other customer's %s rows are gone", table)
		}
	}
}

// Names are found whatever their case, and a near miss names the customer
// the user probably meant.
func TestByNameIgnoresCaseAndSuggestsNearMisses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	q := db.New(pool)
	for _, name := range []string{"Acme Clinic", "Globex Health", "acme clinic"} {
		testfactory.Customer(t, pool, name)
	}
	if c, err := customers.ByName(ctx, q, "  GLOBEX health "); err != nil || c.Name != "Globex Health" {
		t.Fatalf("ByName(GLOBEX health) = %q, %v", c.Name, err)
	}
	if c, err := customers.ByName(ctx, q, "acme clinic"); err != nil || c.Name != "acme clinic" {
		t.Fatalf("an exact spelling should win over a case variant: %q, %v", c.Name, err)
	}
	_, err := customers.ByName(ctx, q, "Globx Health")
	if !errors.Is(err, customers.ErrNotFound) || !strings.Contains(err.Error(), `did you mean "Globex Health"?`) {
		t.Fatalf("near miss: %v, want a suggestion of Globex Health", err)
	}
	_, err = customers.ByName(ctx, q, "Initech")
	if !errors.Is(err, customers.ErrNotFound) || strings.Contains(err.Error(), "did you mean") {
		t.Fatalf("far miss: %v, want not found without a suggestion", err)
	}
}
