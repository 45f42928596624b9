package customers_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/upstream-rcm/upstream/internal/customers"
	"github.com/upstream-rcm/upstream/internal/drift"
	"github.com/upstream-rcm/upstream/internal/store"
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
		if _, err := customers.IssueAPIKey(ctx, store.New(pool), id); err != nil {
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
	if err := customers.Delete(ctx, store.New(pool), ids[0]); err != nil {
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
	q := store.New(pool)
	for _, name := range []string{"Acme Clinic", "Globex Health"} {
		testfactory.Customer(t, pool, name)
	}
	// Names that differ only by case exist only from before Create refused
	// them; lookups must still never pick one of them silently.
	if _, err := pool.Exec(ctx, `INSERT INTO customers (name) VALUES ('acme clinic')`); err != nil {
		t.Fatal(err)
	}
	if c, err := customers.ByName(ctx, q, "  GLOBEX health "); err != nil || c.Name != "Globex Health" {
		t.Fatalf("ByName(GLOBEX health) = %q, %v", c.Name, err)
	}
	if c, err := customers.ByName(ctx, q, "acme clinic"); err != nil || c.Name != "acme clinic" {
		t.Fatalf("an exact spelling should win over a case variant: %q, %v", c.Name, err)
	}
	if _, err := customers.ByName(ctx, q, "ACME CLINIC"); err == nil || !strings.Contains(err.Error(), "differ only by case") {
		t.Fatalf("ambiguous name: %v, want refused naming both", err)
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

// Names that differ only by case are one name: of concurrent creations of
// its spellings exactly one succeeds, every time.
func TestCreateRefusesNamesDifferingOnlyByCaseUnderConcurrency(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	spellings := []string{"Acme-%d", "acme-%d", "ACME-%d", "  aCmE-%d ", "Acme-%d"}
	for round := range 10 {
		var wg sync.WaitGroup
		var created, exists atomic.Int32
		for i := range 12 {
			wg.Go(func() {
				name := fmt.Sprintf(spellings[i%len(spellings)], round)
				_, err := customers.Create(ctx, pool, name)
				switch {
				case err == nil:
					created.Add(1)
				case errors.Is(err, customers.ErrExists):
					exists.Add(1)
				default:
					t.Errorf("create %q: %v", name, err)
				}
			})
		}
		wg.Wait()
		if created.Load() != 1 || exists.Load() != 11 {
			t.Fatalf("round %d: %d created, %d refused as existing; want 1 and 11", round, created.Load(), exists.Load())
		}
	}
	for _, bad := range []string{"", "  ", "x\x00y", "\xff\xfe", strings.Repeat("n", customers.MaxNameLength+1)} {
		if _, err := customers.Create(ctx, pool, bad); !errors.As(err, new(*customers.NameError)) {
			t.Errorf("create %q: %v, want a *NameError", bad, err)
		}
	}
}
