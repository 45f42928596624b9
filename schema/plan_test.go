package schema_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/upstream-rcm/upstream/internal/db"
	"github.com/upstream-rcm/upstream/internal/testdb"
)

// Every statement that reads or writes claim_records finds its rows
// through the one index left, the primary key (customer_id, upload_id,
// source_row): with sequential scans priced out, each plan uses it. The
// upload path's own reads (the statistics read-back and the deletion
// trigger) are checked through the statements they run.
func TestClaimRecordQueriesUseThePrimaryKey(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	tx := seqScansOff(t, pool)
	for name, q := range map[string]struct {
		sql  string
		args []any
	}{
		"ClaimDistinctPayers":      {db.ClaimDistinctPayers, []any{int64(1)}},
		"ClaimDistinctCPTs":        {db.ClaimDistinctCPTs, []any{int64(1)}},
		"ClaimReclassifyPayers":    {db.ClaimReclassifyPayers, []any{int64(1), []string{"a"}, []string{"b"}}},
		"ClaimReclassifyCPTGroups": {db.ClaimReclassifyCPTGroups, []any{int64(1), []string{"a"}, []string{"b"}}},
		"ClaimDriftAggregate":      {db.ClaimDriftAggregate, []any{"2026-02-01", int64(1), "2026-01-01", "2026-03-01"}},
		// claimstats_of_claims' read of one upload, and the trigger's delete.
		"statistics read-back": {`SELECT count(*) FROM claim_records c WHERE c.customer_id = $1 AND c.upload_id BETWEEN $2 AND $2`, []any{int64(1), int64(2)}},
		"delete with uploads":  {`DELETE FROM claim_records c USING (SELECT 1::bigint AS customer_id, 2::bigint AS id) g WHERE c.customer_id = g.customer_id AND c.upload_id = g.id`, nil},
	} {
		lines := explain(t, tx, q.sql, q.args...)
		plan := strings.Join(lines, "\n")
		if !strings.Contains(plan, "claim_records_pkey") || strings.Contains(plan, "Seq Scan on claim_records") {
			t.Errorf("%s does not use claim_records_pkey:\n%s", name, plan)
		}
	}
}

// The statements that resolve claim ids are driven by the upload's rows
// and look every other version up by its whole key, whatever the planner
// believes of rows stored by the same transaction (here: nothing, the
// worst case). A lookup flattened into a join once scanned the whole
// upload for each of its claims: minutes for 300k rows.
func TestClaimIdentityQueriesLookVersionsUpByKey(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	tx := seqScansOff(t, pool)
	for name, q := range map[string]struct {
		sql     string
		args    []any
		drivers int // scans of the upload's rows by (customer_id, upload_id)
	}{
		"ClaimReviseFromUpload, ids unique":  {db.ClaimReviseFromUpload, []any{true, int64(1), int64(2)}, 1},
		"ClaimReviseFromUpload, grouped":     {db.ClaimReviseFromUpload, []any{false, int64(1), int64(2)}, 1},
		"ClaimInsertNewOfUpload, ids unique": {db.ClaimInsertNewOfUpload, []any{int64(1), int64(2), true}, 1},
		"ClaimInsertNewOfUpload, grouped":    {db.ClaimInsertNewOfUpload, []any{int64(1), int64(2), false}, 1},
		"ClaimCountOfUpload":                 {db.ClaimCountOfUpload, []any{int64(1), int64(2)}, 1},
		"ClaimUncountedOfUpload":             {db.ClaimUncountedOfUpload, []any{int64(1), int64(2), int32(0), int32(10)}, 1},
		"ClaimNextVersionsWithoutUpload":     {db.ClaimNextVersionsWithoutUpload, []any{int64(2), int64(1)}, 1},
	} {
		lines := explain(t, tx, q.sql, q.args...)
		partial, unkeyedClaims := 0, 0
		for i, line := range lines {
			// The customer's claims are read by claim id, or (overturns)
			// the denied ones through their index.
			if strings.Contains(line, "claims_pkey") && !strings.Contains(line, "Arbiter") && !strings.Contains(line, "Bitmap Index Scan") {
				for _, next := range lines[i+1:] {
					if strings.Contains(next, "Index Cond:") {
						if !strings.Contains(next, "claim_id =") {
							unkeyedClaims++
						}
						break
					}
				}
			}
			if !strings.Contains(line, "claim_records_pkey") {
				continue
			}
			for _, next := range lines[i+1:] {
				if strings.Contains(next, "Index Cond:") {
					if !strings.Contains(next, "source_row =") {
						partial++
					}
					break
				}
			}
		}
		plan := strings.Join(lines, "\n")
		if partial != q.drivers || unkeyedClaims > 0 || strings.Contains(plan, "Seq Scan on claim") {
			t.Errorf("%s: %d scans of claim_records by part of its key, want %d (the upload's rows); %d of claims by customer alone:\n%s",
				name, partial, q.drivers, unkeyedClaims, plan)
		}
	}
}

// Right after an upload stored a customer's claims, before any ANALYZE,
// the planner believes few of them belong to the customer. The revision's
// UPDATE must still look each revised claim up by its key: joined on the
// constant customer id, it read every claim of the customer for each
// revised one (26 s for the demo's second upload).
func TestClaimRevisionLooksClaimsUpByKeyWithStaleStatistics(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	// Statistics taken when another customer had all the claims; then a
	// new customer's upload stores as many.
	var customerID int64
	for i, name := range []string{"analyzed", "new"} {
		if err := pool.QueryRow(ctx, `INSERT INTO customers (name) VALUES ($1) RETURNING id`, name).Scan(&customerID); err != nil {
			t.Fatal(err)
		}
		if _, err := pool.Exec(ctx, `
			INSERT INTO claims (customer_id, claim_id, initial_upload_id, initial_source_row, initial_decided, initial_outcome,
			                    final_upload_id, final_source_row, final_decided, final_outcome)
			SELECT $1, 'C' || i, 1, i, '2026-01-01', 'PAID', 1, i, '2026-01-01', 'PAID'
			FROM generate_series(1, 30000) AS i`, customerID); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if _, err := pool.Exec(ctx, `ANALYZE claims`); err != nil {
				t.Fatal(err)
			}
		}
	}
	tx := seqScansOff(t, pool)
	for _, unique := range []bool{true, false} {
		lines := explain(t, tx, db.ClaimReviseFromUpload, unique, customerID, int64(2))
		for i, line := range lines {
			if !strings.Contains(line, "on claims") || strings.Contains(line, "Bitmap") {
				continue
			}
			for _, next := range lines[i+1:] {
				if strings.Contains(next, "Index Cond:") {
					if !strings.Contains(next, "claim_id =") {
						t.Errorf("ids unique %v: claims read by customer alone:\n%s", unique, strings.Join(lines, "\n"))
					}
					break
				}
			}
		}
	}
}

// explain returns the plan of sql with args, a line each.
func explain(t *testing.T, tx pgx.Tx, sql string, args ...any) []string {
	t.Helper()
	rows, err := tx.Query(context.Background(), "EXPLAIN "+sql, args...)
	if err != nil {
		t.Fatalf("EXPLAIN %.60s: %v", sql, err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("EXPLAIN %.60s: %v", sql, err)
	}
	return lines
}

// seqScansOff begins a transaction, rolled back when the test ends, with
// sequential scans priced out: the plans left show which index each
// statement can use.
func seqScansOff(t *testing.T, pool *pgxpool.Pool) pgx.Tx {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Rollback(ctx) })
	if _, err := tx.Exec(ctx, `SET LOCAL enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	return tx
}
