package schema_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/upstream-rcm/upstream/internal/testdb"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

// fixture holds one customer with one upload and one report run.
type fixture struct {
	customerID, uploadID, runID int64
}

func newFixture(t *testing.T, pool *pgxpool.Pool, name string) fixture {
	t.Helper()
	var f fixture
	mustQueryRow(t, pool, &f.customerID, `INSERT INTO customers (name) VALUES ($1) RETURNING id`, name)
	mustQueryRow(t, pool, &f.uploadID, `INSERT INTO uploads (customer_id, filename, sha256, rows_total, accepted)
		VALUES ($1, 'a.csv', repeat('a', 64), 1, 1) RETURNING id`, f.customerID)
	mustQueryRow(t, pool, &f.runID, `INSERT INTO report_runs (customer_id, run_type, as_of, baseline_days, current_days, min_volume)
		VALUES ($1, 'manual', '2026-11-23', 90, 14, 30) RETURNING id`, f.customerID)
	return f
}

func mustQueryRow(t *testing.T, pool *pgxpool.Pool, dest any, sql string, args ...any) {
	t.Helper()
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(dest); err != nil {
		t.Fatalf("%s: %v", strings.Fields(sql)[0:3], err)
	}
}

func mustExec(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("exec %q: %v", sql, err)
	}
}

// wantViolation asserts that sql fails with the SQLSTATE code on the named
// constraint.
func wantViolation(t *testing.T, pool *pgxpool.Pool, code, constraint, sql string, args ...any) {
	t.Helper()
	_, err := pool.Exec(context.Background(), sql, args...)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		t.Fatalf("%q: err = %v, want %s violation of %s", sql, err, code, constraint)
	}
	if pgErr.Code != code || pgErr.ConstraintName != constraint {
		t.Fatalf("%q: got %s on %q (%s), want %s on %q", sql, pgErr.Code, pgErr.ConstraintName, pgErr.Message, code, constraint)
	}
}

const insertClaim = `INSERT INTO claim_records (customer_id, upload_id, source_row, payer, cpt, cpt_group, submitted_date, decided_date, outcome)
	VALUES ($1, $2, (SELECT coalesce(max(source_row), 1) + 1 FROM claim_records), 'Aetna', '99213', 'E&M', $3, $4, $5)`

func TestCustomerNameIsUnique(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	newFixture(t, pool, "acme")
	wantViolation(t, pool, pgerrcode.UniqueViolation, "customers_name_key", `INSERT INTO customers (name) VALUES ('acme')`)
}

func TestClaimDecidedBeforeSubmittedIsRejected(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	f := newFixture(t, pool, "acme")
	mustExec(t, pool, insertClaim, f.customerID, f.uploadID, "2026-01-10", "2026-01-10", "PAID")
	wantViolation(t, pool, pgerrcode.CheckViolation, "claim_records_submitted_before_decided",
		insertClaim, f.customerID, f.uploadID, "2026-01-10", "2026-01-09", "PAID")
}

func TestClaimOutcomeMustBeKnown(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	f := newFixture(t, pool, "acme")
	for _, outcome := range []string{"PAID", "DENIED", "OTHER"} {
		mustExec(t, pool, insertClaim, f.customerID, f.uploadID, "2026-01-10", "2026-01-12", outcome)
	}
	wantViolation(t, pool, pgerrcode.CheckViolation, "claim_records_outcome_valid",
		insertClaim, f.customerID, f.uploadID, "2026-01-10", "2026-01-12", "APPROVED")
}

func TestClaimCannotPointAtAnotherCustomersUpload(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	a := newFixture(t, pool, "acme")
	var otherID int64
	mustQueryRow(t, pool, &otherID, `INSERT INTO customers (name) VALUES ('globex') RETURNING id`)
	wantViolation(t, pool, pgerrcode.ForeignKeyViolation, "claim_records_upload_fkey",
		insertClaim, otherID, a.uploadID, "2026-01-10", "2026-01-12", "PAID")
	wantViolation(t, pool, pgerrcode.ForeignKeyViolation, "claim_records_upload_fkey",
		insertClaim, a.customerID, a.uploadID+1000, "2026-01-10", "2026-01-12", "PAID")
	// Nor be moved to one.
	mustExec(t, pool, insertClaim, a.customerID, a.uploadID, "2026-01-10", "2026-01-12", "PAID")
	wantViolation(t, pool, pgerrcode.ForeignKeyViolation, "claim_records_upload_fkey",
		`UPDATE claim_records SET customer_id = $1`, otherID)
}

// Deleting an upload deletes its claims and no other upload's, as the
// foreign key's cascade did.
func TestDeletingAnUploadDeletesItsClaims(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	a := newFixture(t, pool, "acme")
	var second int64
	mustQueryRow(t, pool, &second, `INSERT INTO uploads (customer_id, filename) VALUES ($1, 'second.csv') RETURNING id`, a.customerID)
	for range 3 {
		mustExec(t, pool, insertClaim, a.customerID, a.uploadID, "2026-01-10", "2026-01-12", "PAID")
		mustExec(t, pool, insertClaim, a.customerID, second, "2026-01-10", "2026-01-12", "PAID")
	}
	mustExec(t, pool, `DELETE FROM uploads WHERE id = $1`, a.uploadID)
	var left, ofDeleted int64
	mustQueryRow(t, pool, &left, `SELECT count(*) FROM claim_records`)
	mustQueryRow(t, pool, &ofDeleted, `SELECT count(*) FROM claim_records WHERE upload_id = $1`, a.uploadID)
	if left != 3 || ofDeleted != 0 {
		t.Fatalf("%d claims left, %d of the deleted upload; want the other upload's 3 and none", left, ofDeleted)
	}
}

const insertIdentity = `INSERT INTO claims (customer_id, claim_id, initial_upload_id, initial_source_row, initial_decided, initial_outcome,
	final_upload_id, final_source_row, final_decided, final_outcome)
	VALUES ($1, $2, 1, 1, '2026-01-12', 'PAID', 1, 1, '2026-01-12', 'PAID')`

// A claim belongs to an existing customer, never moves to another, and
// goes with its customer, as the foreign key that 0015 replaced kept.
func TestClaimIdentityBelongsToItsCustomer(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	a := newFixture(t, pool, "acme")
	b := newFixture(t, pool, "globex")
	wantViolation(t, pool, pgerrcode.ForeignKeyViolation, "claims_customer_id_fkey", insertIdentity, a.customerID+1000, "C1")
	mustExec(t, pool, insertIdentity, a.customerID, "C1")
	mustExec(t, pool, insertIdentity, a.customerID, "C2")
	mustExec(t, pool, insertIdentity, b.customerID, "C1")
	wantViolation(t, pool, pgerrcode.ForeignKeyViolation, "claims_customer_id_fkey",
		`UPDATE claims SET customer_id = $1 WHERE claim_id = 'C2'`, b.customerID)
	mustExec(t, pool, `UPDATE claims SET final_outcome = 'DENIED' WHERE customer_id = $1`, a.customerID)
	mustExec(t, pool, `DELETE FROM customers WHERE id = $1`, a.customerID)
	var left, ofDeleted int64
	mustQueryRow(t, pool, &left, `SELECT count(*) FROM claims`)
	mustQueryRow(t, pool, &ofDeleted, `SELECT count(*) FROM claims WHERE customer_id = $1`, a.customerID)
	if left != 1 || ofDeleted != 0 {
		t.Fatalf("%d claims left, %d of the deleted customer; want the other customer's 1 and none", left, ofDeleted)
	}
}

func TestUploadHashIsUniquePerCustomer(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	a := newFixture(t, pool, "acme")
	b := newFixture(t, pool, "globex") // same hash, other customer: allowed
	if a.uploadID == b.uploadID {
		t.Fatal("fixtures share an upload")
	}
	wantViolation(t, pool, pgerrcode.UniqueViolation, "uploads_customer_sha256_key",
		`INSERT INTO uploads (customer_id, filename, sha256) VALUES ($1, 'again.csv', repeat('a', 64))`, a.customerID)
}

const insertEvent = `INSERT INTO drift_events (customer_id, report_run_id, payer, cpt_group, drift_type,
	baseline_value, current_value, delta_value, severity, confidence,
	baseline_start, baseline_end, current_start, current_end, baseline_sample_size, current_sample_size,
	seed_baseline_value, seed_current_value, seed_delta_value, seed_severity, seed_confidence, seed_baseline_sample_size, seed_current_sample_size)
	VALUES ($1, $2, 'Aetna', 'E&M', $3, 0.1, 0.3, 0.2, 0.4, 1, '2026-08-11', '2026-11-09', '2026-11-09', '2026-11-23', 40, 40,
	0.1, 0.3, 0.2, 0.4, 1, 40, 40)`

func TestDriftEventIsUniquePerRunGroupAndType(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	f := newFixture(t, pool, "acme")
	mustExec(t, pool, insertEvent, f.customerID, f.runID, "DENIAL_RATE")
	mustExec(t, pool, insertEvent, f.customerID, f.runID, "DECISION_TIME")
	wantViolation(t, pool, pgerrcode.UniqueViolation, "drift_events_run_group_type_key",
		insertEvent, f.customerID, f.runID, "DENIAL_RATE")

	// The constraint was attached from a concurrently built index.
	var constraintType string
	mustQueryRow(t, pool, &constraintType, `SELECT contype::text FROM pg_constraint WHERE conname = 'drift_events_run_group_type_key'`)
	if constraintType != "u" {
		t.Fatalf("drift_events_run_group_type_key has type %q, want a unique constraint", constraintType)
	}
}

func TestOneSuccessfulWeeklyRunPerCustomerWeekAndParameters(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	f := newFixture(t, pool, "acme")
	const insertRun = `INSERT INTO report_runs (customer_id, run_type, as_of, baseline_days, current_days, min_volume, status, finished_at, error)
		VALUES ($1, $2, '2026-11-23', $3, 14, 30, $4, now(), $5)`
	var noError *string
	failed := "boom"
	mustExec(t, pool, insertRun, f.customerID, "weekly", 90, "failed", &failed)
	mustExec(t, pool, insertRun, f.customerID, "weekly", 90, "success", noError)
	// Other run types and other parameters are independent.
	mustExec(t, pool, insertRun, f.customerID, "manual", 90, "success", noError)
	mustExec(t, pool, insertRun, f.customerID, "weekly", 60, "success", noError)
	wantViolation(t, pool, pgerrcode.UniqueViolation, "report_runs_one_successful_weekly_idx",
		insertRun, f.customerID, "weekly", 90, "success", noError)
}
