package drift_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/upstream-rcm/upstream/internal/drift"
	"github.com/upstream-rcm/upstream/internal/testdb"
)

// captureTracer records the SQL and arguments of the queries a pool runs.
type captureTracer struct {
	mu      sync.Mutex
	queries []pgx.TraceQueryStartData
}

func (c *captureTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.queries = append(c.queries, data)
	return ctx
}

func (c *captureTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// The aggregation reads one customer's windows through the statistics'
// primary key, (customer_id, day, ...), as an index range scan,
// not by scanning every customer's rows.
func TestAggregationUsesIndexRangeScan(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := testdb.URL(t)
	setup := testdb.NewPool(t, dsn)
	// 50 customers x 400 days x 2 groups of statistics.
	if _, err := setup.Exec(ctx, `
		INSERT INTO customers (name) SELECT 'customer-' || i FROM generate_series(1, 50) i;
		INSERT INTO claim_stats (customer_id, day, payer, cpt_group, submitted_claims, submitted_denied, submitted_days,
			decided_claims, decided_denied, decided_days)
		SELECT c.id, date '2026-11-23' - d, 'Payer ' || (d % 5), g, 1 + d % 3, d % 2, ARRAY[(d % 20) << 32 | (1 + d % 3)],
			1, 0, ARRAY[3::bigint << 32 | 1]
		FROM customers c, generate_series(1, 400) d, (VALUES ('E&M'), ('Imaging')) v(g);
		ANALYZE claim_stats`); err != nil {
		t.Fatal(err)
	}
	var customerID int64
	if err := setup.QueryRow(ctx, `SELECT id FROM customers WHERE name = 'customer-7'`).Scan(&customerID); err != nil {
		t.Fatal(err)
	}

	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	tracer := &captureTracer{}
	cfg.ConnConfig.Tracer = tracer
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	w := drift.WindowsFor(drift.DefaultParams(time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)))
	groups, err := drift.Aggregate(ctx, pool, customerID, w)
	if err != nil || len(groups) == 0 {
		t.Fatalf("aggregate: %d groups, %v", len(groups), err)
	}
	if len(tracer.queries) != 1 {
		t.Fatalf("aggregation ran %d queries, want 1", len(tracer.queries))
	}
	q := tracer.queries[0]
	var plan []map[string]any
	if err := pool.QueryRow(ctx, "EXPLAIN (FORMAT JSON) "+q.SQL, q.Args...).Scan(&plan); err != nil {
		t.Fatal(err)
	}
	var scans []string
	var walk func(node map[string]any)
	walk = func(node map[string]any) {
		if rel, ok := node["Relation Name"].(string); ok && rel == "claim_stats" {
			cond, _ := node["Index Cond"].(string)
			if recheck, ok := node["Recheck Cond"].(string); ok { // a bitmap heap scan
				cond = recheck
			}
			scans = append(scans, node["Node Type"].(string)+" "+cond)
		}
		children, _ := node["Plans"].([]any)
		for _, c := range children {
			walk(c.(map[string]any))
		}
	}
	walk(plan[0]["Plan"].(map[string]any))
	if len(scans) != 1 || !(strings.Contains(scans[0], "Index") || strings.HasPrefix(scans[0], "Bitmap Heap Scan")) || !strings.Contains(scans[0], "customer_id") || !strings.Contains(scans[0], "day") {
		out, _ := json.MarshalIndent(plan, "", " ")
		t.Fatalf("scans of claim_stats = %q, want one index range scan on (customer_id, day):\n%s", scans, out)
	}
}
