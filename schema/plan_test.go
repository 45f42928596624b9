package schema_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

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
	ctx := context.Background()
	pool := testdb.New(t)
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SET LOCAL enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
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
		rows, err := tx.Query(ctx, "EXPLAIN "+q.sql, q.args...)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		plan := strings.Join(lines, "\n")
		if !strings.Contains(plan, "claim_records_pkey") || strings.Contains(plan, "Seq Scan on claim_records") {
			t.Errorf("%s does not use claim_records_pkey:\n%s", name, plan)
		}
	}
}
