package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/upstream-rcm/upstream/internal/ingest"
	"github.com/upstream-rcm/upstream/internal/store"
	"github.com/upstream-rcm/upstream/internal/testdb"
	"github.com/upstream-rcm/upstream/internal/testfactory"
	"github.com/upstream-rcm/upstream/jobs"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

const header = testfactory.ClaimsHeader

// claimsCSV builds a valid file of n rows submitted in January 2026; salt
// makes files differ.
func claimsCSV(n int, salt string) string {
	return testfactory.ClaimsCSV(testfactory.Synthetic(n, salt, time.Date(2026, 1, 29, 0, 0, 0, 0, time.UTC))...)
}

type env struct {
	pool     *pgxpool.Pool
	uploader *ingest.Uploader
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return envForPool(t, testdb.New(t))
}

func envForPool(t testing.TB, pool *pgxpool.Pool) *env {
	t.Helper()
	// These tests check what an upload enqueues, so nothing works the jobs.
	return &env{pool: pool, uploader: testfactory.Uploader(t, pool)}
}

func (e *env) customer(t testing.TB, name string) int64 {
	t.Helper()
	return testfactory.Customer(t, e.pool, name)
}

// counts is what an upload can leave behind.
type counts struct{ uploads, claims, requests, jobs int }

func (e *env) counts(t *testing.T) counts {
	t.Helper()
	var c counts
	err := e.pool.QueryRow(context.Background(), `SELECT
		(SELECT count(*) FROM uploads), (SELECT count(*) FROM claim_records),
		(SELECT count(*) FROM drift_requests), (SELECT count(*) FROM river_job)`).Scan(&c.uploads, &c.claims, &c.requests, &c.jobs)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestUploadStoresClaimsRequestAndJobInOneTransaction(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	cust := e.customer(t, "acme")
	if _, err := ingest.ReplaceMappings(ctx, e.pool, cust,
		strings.NewReader("raw_name,normalized_name\n  PAYER X ,Payer Ex\n"),
		strings.NewReader("cpt,cpt_group\n99213,E&M\n")); err != nil {
		t.Fatal(err)
	}
	input := claimsCSV(40, "x") + "Payer x,99213,2026-01-05,2026-01-01,PAID,\n"
	up, err := e.uploader.Upload(ctx, cust, "jan.csv", strings.NewReader(input), nil)
	if err != nil {
		t.Fatal(err)
	}
	if up.Rows != 41 || up.Accepted != 40 || up.Rejected != 1 || len(up.Errors) != 1 || up.Errors[0].Row != 42 ||
		up.Status != "completed" || len(up.SHA256) != 64 || up.JobID == nil || up.JobCoalesced ||
		*up.MinSubmitted != "2026-01-01" || *up.MaxSubmitted != "2026-01-28" {
		t.Fatalf("upload = %+v", up)
	}
	var payers, groups []string
	rows, _ := e.pool.Query(ctx, `SELECT DISTINCT payer, cpt_group FROM claim_records WHERE upload_id = $1`, up.ID)
	for rows.Next() {
		var p, g string
		if err := rows.Scan(&p, &g); err != nil {
			t.Fatal(err)
		}
		payers, groups = append(payers, p), append(groups, g)
	}
	if fmt.Sprint(payers, groups) != "[Payer Ex] [E&M]" {
		t.Fatalf("stored payer/group = %v %v, want mapped values", payers, groups)
	}
	var amount string
	if err := e.pool.QueryRow(ctx, `SELECT allowed_amount::text FROM claim_records WHERE upload_id = $1 AND source_row = 5`, up.ID).Scan(&amount); err != nil || amount != "3.25" {
		t.Fatalf("allowed_amount of row 5 = %q (%v), want 3.25", amount, err)
	}
	if got := e.counts(t); got != (counts{uploads: 1, claims: 40, requests: 1, jobs: 1}) {
		t.Fatalf("stored %+v", got)
	}
	var kind string
	var jobCustomer int64
	if err := e.pool.QueryRow(ctx, `SELECT kind, (args->>'customer_id')::bigint FROM river_job WHERE id = $1`, *up.JobID).Scan(&kind, &jobCustomer); err != nil {
		t.Fatal(err)
	}
	if kind != (jobs.CustomerDriftArgs{}).Kind() || jobCustomer != cust {
		t.Fatalf("job = %s for customer %d, want %s for %d", kind, jobCustomer, jobs.CustomerDriftArgs{}.Kind(), cust)
	}
}

func TestDuplicateUploadNamesFirstAndStoresNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	cust := e.customer(t, "acme")
	input := claimsCSV(10, "a")
	first, err := e.uploader.Upload(ctx, cust, "first.csv", strings.NewReader(input), nil)
	if err != nil {
		t.Fatal(err)
	}
	before := e.counts(t)
	_, err = e.uploader.Upload(ctx, cust, "again.csv", strings.NewReader(input), nil)
	var dup *ingest.DuplicateError
	if !errors.As(err, &dup) || dup.First.ID != first.ID {
		t.Fatalf("second upload: err = %v, want DuplicateError naming upload %d", err, first.ID)
	}
	if !strings.Contains(err.Error(), fmt.Sprintf("upload %d", first.ID)) || !strings.Contains(err.Error(), "first.csv") {
		t.Fatalf("error %q does not name the first upload", err)
	}
	if after := e.counts(t); after != before {
		t.Fatalf("duplicate upload changed the database: %+v -> %+v", before, after)
	}
	// The same file for another customer is not a duplicate.
	other := e.customer(t, "globex")
	if _, err := e.uploader.Upload(ctx, other, "first.csv", strings.NewReader(input), nil); err != nil {
		t.Fatalf("same file for another customer: %v", err)
	}
}

func TestInvalidFilesStoreNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	cust := e.customer(t, "acme")
	small := &ingest.UploadOptions{MaxBytes: 1000}
	cases := []struct {
		name  string
		opts  *ingest.UploadOptions
		input string
		check func(error) bool
	}{
		{"missing column", nil, "payer,cpt,submitted_date,outcome\nA,1,2026-01-01,PAID\n",
			func(err error) bool { var he *ingest.HeaderError; return errors.As(err, &he) }},
		{"every row rejected", nil, header + "A,1,bad,2026-01-01,PAID,\nA,1,2026-01-02,2026-01-01,PAID,\n",
			func(err error) bool {
				var nv *ingest.NoValidRowsError
				return errors.As(err, &nv) && nv.Stats.Rejected == 2 && strings.Contains(err.Error(), "row 2")
			}},
		{"header only", nil, header, func(err error) bool { var nv *ingest.NoValidRowsError; return errors.As(err, &nv) }},
		{"empty", nil, "", func(err error) bool { return errors.Is(err, ingest.ErrNoHeader) }},
		{"too large", small, claimsCSV(100, "big"), func(err error) bool { return errors.Is(err, ingest.ErrTooLarge) }},
	}
	for _, tc := range cases {
		_, err := e.uploader.Upload(ctx, cust, tc.name+".csv", strings.NewReader(tc.input), tc.opts)
		if err == nil || !tc.check(err) {
			t.Errorf("%s: err = %v", tc.name, err)
		}
		if got := e.counts(t); got != (counts{}) {
			t.Fatalf("%s: stored %+v, want nothing", tc.name, got)
		}
	}
	// Exactly at the limit is allowed.
	exact := claimsCSV(3, "exact")
	atLimit := &ingest.UploadOptions{MaxBytes: int64(len(exact))}
	if _, err := e.uploader.Upload(ctx, cust, "exact.csv", strings.NewReader(exact), atLimit); err != nil {
		t.Fatalf("file of exactly MaxBytes: %v", err)
	}
}

// failingReader serves input, calling fail once more than after bytes have
// been read; fail's error (if any) is returned from Read.
type failingReader struct {
	r     io.Reader
	after int
	read  int
	fail  func() error
	once  sync.Once
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(p) > 4096 {
		p = p[:4096] // small reads, so failure lands mid-COPY
	}
	if f.read >= f.after {
		var err error
		f.once.Do(func() { err = f.fail() })
		if err != nil {
			return 0, err
		}
	}
	n, err := f.r.Read(p)
	f.read += n
	return n, err
}

func TestFailureMidStreamLeavesNothing(t *testing.T) {
	t.Parallel()
	input := claimsCSV(20000, "big") // ~1 MB, many COPY buffers
	failures := map[string]func(t *testing.T, e *env, cancel context.CancelFunc) func() error{
		"context cancelled": func(t *testing.T, e *env, cancel context.CancelFunc) func() error {
			return func() error { cancel(); return nil }
		},
		"read error": func(t *testing.T, e *env, cancel context.CancelFunc) func() error {
			return func() error { return errors.New("client went away") }
		},
		"connection terminated": func(t *testing.T, e *env, cancel context.CancelFunc) func() error {
			return func() error {
				var n int
				err := e.pool.QueryRow(context.Background(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
					WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE 'copy%'`).Scan(&n)
				if err != nil || n != 1 {
					t.Errorf("terminate COPY backend: %d terminated, %v", n, err)
				}
				return nil
			}
		},
	}
	for name, failure := range failures {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			cust := e.customer(t, "acme")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			r := &failingReader{r: strings.NewReader(input), after: len(input) / 2, fail: failure(t, e, cancel)}
			_, err := e.uploader.Upload(ctx, cust, "big.csv", r, nil)
			if err == nil {
				t.Fatal("upload succeeded despite the failure mid-stream")
			}
			if got := e.counts(t); got != (counts{}) {
				t.Fatalf("after %s: stored %+v, want nothing (err %v)", name, got, err)
			}
			// And the customer can upload the same file afterwards.
			if _, err := e.uploader.Upload(context.Background(), cust, "big.csv", strings.NewReader(input), nil); err != nil {
				t.Fatalf("retry after %s: %v", name, err)
			}
		})
	}
}

func TestConcurrentUploadsCoalesceDriftJobsAndKeepCustomersApart(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	acme, globex := e.customer(t, "acme"), e.customer(t, "globex")
	const perCustomer = 20
	var wg sync.WaitGroup
	errs := make(chan error, 2*perCustomer)
	for i := range perCustomer {
		for _, cust := range []int64{acme, globex} {
			wg.Go(func() {
				salt := fmt.Sprintf("%d-%d", cust, i)
				if _, err := e.uploader.Upload(ctx, cust, salt+".csv", strings.NewReader(claimsCSV(50, salt)), nil); err != nil {
					errs <- err
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, cust := range []int64{acme, globex} {
		var uploads, requests, claims, foreign, jobCount, distinctJobs int
		err := e.pool.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM uploads WHERE customer_id = $1),
			(SELECT count(*) FROM drift_requests r JOIN uploads u ON u.id = r.upload_id WHERE r.customer_id = $1 AND u.customer_id = $1),
			(SELECT count(*) FROM claim_records WHERE customer_id = $1),
			(SELECT count(*) FROM claim_records WHERE customer_id = $1 AND payer NOT LIKE 'Payer ' || $1::text || '-%'),
			(SELECT count(*) FROM river_job WHERE args->>'customer_id' = $1::text),
			(SELECT count(DISTINCT job_id) FROM uploads WHERE customer_id = $1)`, cust).
			Scan(&uploads, &requests, &claims, &foreign, &jobCount, &distinctJobs)
		if err != nil {
			t.Fatal(err)
		}
		if uploads != perCustomer || requests != perCustomer || claims != perCustomer*50 || foreign != 0 {
			t.Fatalf("customer %d: %d uploads, %d requests, %d claims (%d of another customer); want %d, %d, %d, 0",
				cust, uploads, requests, claims, foreign, perCustomer, perCustomer, perCustomer*50)
		}
		// Nothing works the jobs here, so every upload joined the first one.
		if jobCount != 1 || distinctJobs != 1 {
			t.Fatalf("customer %d: %d drift jobs, uploads point at %d; want 1 coalesced job", cust, jobCount, distinctJobs)
		}
	}
}

func TestReplaceMappingsValidatesAndReplacesAtomically(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	cust := e.customer(t, "acme")
	n, err := ingest.ReplaceMappings(ctx, e.pool, cust,
		strings.NewReader("\ufeffRaw_Name,normalized_name\nAETNA INC,Aetna\n aetna inc ,Aetna\nCigna Corp,Cigna\n"),
		strings.NewReader("cpt_group,cpt\nE&M,99213\nE&M,99214\n"))
	if err != nil {
		t.Fatal(err)
	}
	if *n.Payers != 2 || *n.CPTGroups != 2 {
		t.Fatalf("counts = %d payers, %d groups; want 2, 2", *n.Payers, *n.CPTGroups)
	}
	// A bad CPT file rejects the whole replacement, payers included.
	_, err = ingest.ReplaceMappings(ctx, e.pool, cust,
		strings.NewReader("raw_name,normalized_name\nNew,New\n"),
		strings.NewReader("cpt,cpt_group\n99213,E&M\n99213,LAB\n,X\n"))
	var mfe *ingest.MappingFileError
	if !errors.As(err, &mfe) || len(mfe.Errors) != 2 || mfe.Errors[0].Row != 3 || mfe.Errors[1].Row != 4 ||
		!strings.Contains(err.Error(), `"99213" is mapped to "LAB" here but to "E&M" on row 2`) {
		t.Fatalf("err = %v", err)
	}
	m, err := ingest.LoadMappings(ctx, store.New(e.pool), cust)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(m.Payers) != "map[aetna inc:Aetna cigna corp:Cigna]" || fmt.Sprint(m.CPTGroups) != "map[99213:E&M 99214:E&M]" {
		t.Fatalf("mappings after rejected replacement = %v %v", m.Payers, m.CPTGroups)
	}
	if _, err := ingest.ReplaceMappings(ctx, e.pool, cust, strings.NewReader("name,value\n"), nil); err == nil {
		t.Fatal("mapping file with wrong header accepted")
	}
}

// An upload interrupted at any moment (Ctrl-C cancels its context) is
// stored if and only if it reports success: an interrupt that lands while
// the commit is on its way no longer reports a failure for an upload that
// committed. Each trial cancels at a random point of the upload's time.
func TestInterruptedUploadIsStoredIfAndOnlyIfItSucceeded(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cust := e.customer(t, "acme")
	ctx := context.Background()
	typical := time.Hour
	for i := range 3 {
		body := claimsCSV(200, fmt.Sprint("warmup", i))
		e.pool.Reset()
		start := time.Now()
		if _, err := e.uploader.Upload(ctx, cust, fmt.Sprintf("warmup-%d.csv", i), strings.NewReader(body), nil); err != nil {
			t.Fatal(err)
		}
		typical = min(typical, time.Since(start))
	}
	rng := rand.New(rand.NewPCG(8, 8))
	var succeeded, interrupted int
	for i := range 60 {
		name := fmt.Sprintf("trial-%d.csv", i)
		// An interrupted query costs pgx its connection: every trial
		// starts on a new one, as the warm-ups did.
		e.pool.Reset()
		body := claimsCSV(200, name)
		cctx, cancel := context.WithCancel(ctx)
		delay := time.Duration(rng.Int64N(int64(typical) * 3 / 2))
		timer := time.AfterFunc(delay, cancel)
		_, err := e.uploader.Upload(cctx, cust, name, strings.NewReader(body), nil)
		timer.Stop()
		cancel()
		var stored int
		if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM uploads WHERE customer_id = $1 AND filename = $2`, cust, name).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		switch {
		case errors.Is(err, ingest.ErrCommitUnknown):
			t.Fatalf("trial %d: outcome unknown without a lost connection: %v", i, err)
		case err == nil && stored != 1:
			t.Fatalf("trial %d: reported stored, %d uploads found", i, stored)
		case err != nil && stored != 0:
			t.Fatalf("trial %d: reported %v, yet the upload was stored", i, err)
		case err == nil:
			succeeded++
		default:
			interrupted++
		}
	}
	t.Logf("%d uploads committed, %d interrupted before committing", succeeded, interrupted)
	if succeeded == 0 || interrupted == 0 {
		t.Fatalf("%d committed and %d interrupted: the trials did not cover both outcomes", succeeded, interrupted)
	}
}
