package drift_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/upstream-rcm/upstream/internal/drift"
	"github.com/upstream-rcm/upstream/internal/ingest"
	"github.com/upstream-rcm/upstream/internal/testdb"
	"github.com/upstream-rcm/upstream/internal/testfactory"
)

// version is one adjudication of a claim, as a billing system exports it.
type version struct {
	id                 string
	payer, cpt         string
	submitted, decided time.Time
	outcome, reason    string
	charge             string // "" for none
}

func (v version) row() string {
	return fmt.Sprintf("%s,%s,%s,%s,%s,%s,%s,%s", v.id, v.payer, v.cpt, v.submitted.Format(time.DateOnly), v.decided.Format(time.DateOnly),
		v.outcome, v.reason, v.charge)
}

const versionHeader = "claim_id,payer,cpt,submitted_date,decided_date,outcome,denial_reason_code,charge_amount\n"

// billingSystem simulates a customer's claims over 300 days: weekday
// submissions, decisions after a skewed delay, denials, a third of which
// are appealed and come back paid 20 to 60 days later, and corrections
// re-sent with the same decision date and another CPT code or reason.
func billingSystem(rng *rand.Rand, start time.Time, days int) [][]version {
	var claims [][]version
	payers := []string{"Aetna", "AETNA INC", "Cigna", "Humana", "UnitedHealthcare"}
	cpts := []string{"99213", "99214", "70553", "0001U", "27447"}
	for d := range days {
		day := start.AddDate(0, 0, d)
		n := 25
		if wd := day.Weekday(); wd == time.Saturday || wd == time.Sunday {
			n = 3
		}
		for range n {
			v := version{id: fmt.Sprintf("CLM-%06d", len(claims)), payer: payers[rng.IntN(len(payers))], cpt: cpts[rng.IntN(len(cpts))],
				submitted: day, decided: day.AddDate(0, 0, 1+rng.IntN(1+rng.IntN(45))), outcome: "PAID"}
			if n := len(claims); n%6 != 0 { // amounts without drawing: the claims stay the same
				v.charge = fmt.Sprintf("%d.%02d", 60+n*7%900, n%100)
			}
			if rng.IntN(5) == 0 {
				v.outcome, v.reason = "DENIED", []string{"CO-16", "CO-50", "CO-197"}[rng.IntN(3)]
			}
			versions := []version{v}
			switch r := rng.IntN(20); {
			case v.outcome == "DENIED" && r < 7: // appealed, overturned
				a := v
				a.decided, a.outcome, a.reason = v.decided.AddDate(0, 0, 20+rng.IntN(40)), "PAID", ""
				versions = append(versions, a)
			case r == 19: // corrected: same decision date, another code
				c := v
				c.cpt = cpts[rng.IntN(len(cpts))]
				if c.charge != "" {
					c.charge += "5" // and another charge: 12.34 becomes 12.345, stored 12.35
				}
				versions = append(versions, c)
			}
			claims = append(claims, versions)
		}
	}
	return claims
}

// export is the file a billing system writes on day: every version decided
// in [from, day), as its "last N days" reports do.
func export(claims [][]version, from, day time.Time) string {
	var b strings.Builder
	b.WriteString(versionHeader)
	for _, vs := range claims {
		for _, v := range vs {
			if !v.decided.Before(from) && v.decided.Before(day) {
				b.WriteString(v.row() + "\n")
			}
		}
	}
	return b.String()
}

// A history export and 8 weekly "last 60 days" exports, overlapping each
// other and carrying appeals (a later version, PAID) and corrections,
// give the statistics and the run of one upload of each claim's initial
// version; claims_new over the uploads sums to the distinct claims. Then
// deleting an export and reclassifying keep the statistics those of the
// versions left.
func TestOverlappingExportsCountEachClaimOnceAtItsInitialAdjudication(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	uploader := testfactory.Uploader(t, pool)
	rng := rand.New(rand.NewPCG(20, 20))
	start := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	claims := billingSystem(rng, start, 300)
	historyEnd := start.AddDate(0, 0, 260)

	versions := testfactory.Customer(t, pool, "versions")
	var uploadIDs []int64
	newClaims := 0
	upload := func(cust int64, name, body string) *ingest.Upload {
		t.Helper()
		up, err := uploader.Upload(ctx, cust, name, strings.NewReader(body), nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return up
	}
	up := upload(versions, "history.csv", export(claims, start, historyEnd))
	uploadIDs, newClaims = append(uploadIDs, up.ID), newClaims+up.New
	asOf := historyEnd
	for week := range 8 {
		asOf = historyEnd.AddDate(0, 0, 7*(week+1))
		up := upload(versions, fmt.Sprintf("week%d.csv", week), export(claims, asOf.AddDate(0, 0, -60), asOf))
		if up.Unchanged == 0 || up.New == 0 {
			t.Fatalf("week %d: %d new, %d revised, %d unchanged; an overlapping export repeats known claims and brings new ones", week, up.New, up.Revised, up.Unchanged)
		}
		uploadIDs, newClaims = append(uploadIDs, up.ID), newClaims+up.New
	}

	// The reference customer: each claim once, at its initial version as
	// of the last export (the earliest decided before it; a correction
	// replaces the version it corrects).
	var b strings.Builder
	b.WriteString(versionHeader)
	distinct := 0
	for _, vs := range claims {
		var first *version
		for i := range vs {
			v := &vs[i]
			if v.decided.Before(asOf) && (first == nil || !v.decided.After(first.decided)) {
				first = v
			}
		}
		if first != nil {
			b.WriteString(first.row() + "\n")
			distinct++
		}
	}
	once := testfactory.Customer(t, pool, "once")
	upload(once, "initial-versions.csv", b.String())
	if newClaims != distinct {
		t.Fatalf("claims_new sums to %d over the exports, want the %d distinct claims", newClaims, distinct)
	}
	out := sameRun(t, ctx, pool, versions, once, asOf)
	// Overturns, counted by hand from the billing system: claims whose
	// initial version (as of the last export) is a denial decided in the
	// windows and whose latest version before asOf is PAID.
	w := drift.WindowsFor(drift.DefaultParams(asOf))
	type cell struct{ payer, group string }
	want := map[cell][2]int{}
	for _, vs := range claims {
		var first, last *version
		for i := range vs {
			v := &vs[i]
			if !v.decided.Before(asOf) {
				continue
			}
			if first == nil || !v.decided.After(first.decided) {
				first = v
			}
			if last == nil || !v.decided.Before(last.decided) {
				last = v
			}
		}
		if first == nil || first.outcome != "DENIED" || first.decided.Before(w.BaselineStart) || !first.decided.Before(w.CurrentEnd) {
			continue
		}
		k := cell{first.payer, "OTHER"}
		c := want[k]
		c[0]++
		if last.outcome == "PAID" {
			c[1]++
		}
		want[k] = c
	}
	got := map[cell][2]int{}
	for _, o := range drift.ViewRun(out.Run).Summary.Overturns {
		got[cell{o.Payer, o.CPTGroup}] = [2]int{o.InitiallyDenied, o.Overturned}
	}
	if len(want) == 0 || !reflect.DeepEqual(got, want) {
		t.Fatalf("overturns in the run: %v, counted by hand: %v", got, want)
	}
	for _, w := range []drift.Windows{drift.WindowsFor(drift.DefaultParams(asOf)), drift.WindowsFor(drift.Params{AsOf: asOf, BaselineDays: 250, CurrentDays: 30, MinVolume: 1})} {
		assertSameAggregate(t, ctx, pool, versions, w)
	}

	// Deleting an export: the versions left decide again.
	if _, err := uploader.DeleteUpload(ctx, versions, uploadIDs[3]); err != nil {
		t.Fatal(err)
	}
	if _, err := uploader.DeleteUpload(ctx, versions, uploadIDs[0]); err != nil {
		t.Fatal(err)
	}
	assertSameAggregate(t, ctx, pool, versions, drift.WindowsFor(drift.Params{AsOf: asOf, BaselineDays: 250, CurrentDays: 30, MinVolume: 1}))
	assertClaimsTableMatchesVersions(t, ctx, pool, versions)
	// Reclassifying applies to every version.
	if _, _, err := uploader.ReplaceMappingsAndReclassify(ctx, versions, strings.NewReader("raw_name,normalized_name\nAETNA INC,Aetna\n"),
		strings.NewReader("cpt,cpt_group\n99213,E&M\n99214,E&M\n70553,Imaging\n")); err != nil {
		t.Fatal(err)
	}
	assertSameAggregate(t, ctx, pool, versions, drift.WindowsFor(drift.DefaultParams(asOf)))
}

// sameRun computes a run as of asOf for two customers and requires the same
// events (values, tests, sizes) and claims read; it returns a's.
func sameRun(t *testing.T, ctx context.Context, pool *pgxpool.Pool, a, b int64, asOf time.Time) *drift.Outcome {
	t.Helper()
	run := func(cust int64) (*drift.Outcome, error) {
		tx, err := pool.Begin(ctx)
		if err != nil {
			return nil, err
		}
		defer tx.Rollback(ctx)
		return drift.Compute(ctx, tx, drift.Request{CustomerID: cust, RunType: drift.RunManual, Params: drift.DefaultParams(asOf)})
	}
	ra, err := run(a)
	if err != nil {
		t.Fatal(err)
	}
	rb, err := run(b)
	if err != nil {
		t.Fatal(err)
	}
	if *ra.Run.ClaimsRead != *rb.Run.ClaimsRead || *ra.Run.ClaimsRead == 0 {
		t.Fatalf("claims read %d from the exports, %d from the initial versions", *ra.Run.ClaimsRead, *rb.Run.ClaimsRead)
	}
	if len(ra.Events) == 0 || !reflect.DeepEqual(ra.Events, rb.Events) {
		t.Fatalf("events from the exports:\n%+v\nfrom the initial versions:\n%+v", ra.Events, rb.Events)
	}
	return ra
}

// assertClaimsTableMatchesVersions checks every claim's initial and final
// versions against sorting its stored versions.
func assertClaimsTableMatchesVersions(t *testing.T, ctx context.Context, pool *pgxpool.Pool, customerID int64) {
	t.Helper()
	var bad, missing int
	if err := pool.QueryRow(ctx, `
		WITH i AS (SELECT DISTINCT ON (claim_id) claim_id, decided_date, outcome FROM claim_records
		           WHERE customer_id = $1 AND claim_id IS NOT NULL ORDER BY claim_id, decided_date, upload_id DESC, source_row DESC),
		     f AS (SELECT DISTINCT ON (claim_id) claim_id, decided_date, outcome FROM claim_records
		           WHERE customer_id = $1 AND claim_id IS NOT NULL ORDER BY claim_id, decided_date DESC, upload_id DESC, source_row DESC)
		SELECT count(*) FILTER (WHERE cl.claim_id IS NULL OR i.claim_id IS NULL
		           OR (cl.initial_decided, cl.initial_outcome, cl.final_decided, cl.final_outcome) <> (i.decided_date, i.outcome, f.decided_date, f.outcome)),
		       count(*) FILTER (WHERE cl.claim_id IS NULL)
		FROM i JOIN f USING (claim_id) FULL JOIN (SELECT * FROM claims WHERE customer_id = $1) cl USING (claim_id)`, customerID).Scan(&bad, &missing); err != nil {
		t.Fatal(err)
	}
	if bad != 0 {
		t.Fatalf("%d claims whose initial or final version differs from their stored versions' (%d missing)", bad, missing)
	}
}

// Two concurrent uploads of the same new claims count each once, by the
// claims table's primary key: many files sharing most of their claim ids
// race, and the statistics equal each claim's initial version.
func TestConcurrentUploadsOfTheSameClaimsCountThemOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	uploader := testfactory.Uploader(t, pool)
	cust := testfactory.Customer(t, pool, "acme")
	start := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	claims := billingSystem(rand.New(rand.NewPCG(7, 7)), start, 120)
	for round := range 3 {
		var wg sync.WaitGroup
		for i := range 6 {
			wg.Go(func() {
				// Each file: a random 70% of the claims' versions, in a
				// random order, some rows twice.
				rng := rand.New(rand.NewPCG(uint64(round), uint64(i)))
				var rows []string
				for _, vs := range claims {
					for _, v := range vs {
						if rng.IntN(10) < 7 {
							rows = append(rows, v.row())
						}
					}
				}
				rng.Shuffle(len(rows), func(a, b int) { rows[a], rows[b] = rows[b], rows[a] })
				rows = append(rows, rows[:rng.IntN(50)]...)
				body := versionHeader + strings.Join(rows, "\n") + "\n" + fmt.Sprintf("salt-%d-%d,Aetna,99213,2026-06-01,2026-06-02,PAID,\n", round, i)
				if _, err := uploader.Upload(ctx, cust, fmt.Sprintf("r%d-%d.csv", round, i), strings.NewReader(body), nil); err != nil {
					t.Errorf("upload %d/%d: %v", round, i, err)
				}
			})
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		var ids, claimRows int
		if err := pool.QueryRow(ctx, `SELECT (SELECT count(DISTINCT claim_id) FROM claim_records WHERE customer_id = $1),
			(SELECT count(*) FROM claims WHERE customer_id = $1)`, cust).Scan(&ids, &claimRows); err != nil || ids != claimRows {
			t.Fatalf("round %d: %d claims for %d distinct claim ids (%v)", round, claimRows, ids, err)
		}
		assertClaimsTableMatchesVersions(t, ctx, pool, cust)
		assertSameAggregate(t, ctx, pool, cust, drift.WindowsFor(drift.Params{AsOf: start.AddDate(0, 0, 150), BaselineDays: 120, CurrentDays: 28, MinVolume: 1}))
	}
}

// A file without claim ids that overlaps an earlier upload's decision
// dates for one of its payers is refused by default, naming the upload and
// the dates, and stores nothing; other payers and later dates pass;
// --overlap replace swaps the earlier claims within its dates for its own
// ("last N days" snapshots), --overlap append keeps both.
func TestOverlappingFilesWithoutIDsAreRefusedReplacedOrAppended(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	uploader := testfactory.Uploader(t, pool)
	cust := testfactory.Customer(t, pool, "acme")
	day := func(d int) string {
		return time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, d).Format(time.DateOnly)
	}
	snapshot := func(payer string, from, to int, outcome string) string {
		var b strings.Builder
		b.WriteString("payer,cpt,submitted_date,decided_date,outcome\n")
		for d := from; d <= to; d++ {
			fmt.Fprintf(&b, "%s,99213,%s,%s,%s\n%s,70553,%s,%s,PAID\n", payer, day(d-5), day(d), outcome, payer, day(d-9), day(d))
		}
		return b.String()
	}
	first, err := uploader.Upload(ctx, cust, "march.csv", strings.NewReader(snapshot("Aetna", 0, 30, "PAID")), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = uploader.Upload(ctx, cust, "snapshot.csv", strings.NewReader(snapshot("Aetna", 14, 45, "DENIED")), nil)
	var overlap *ingest.OverlapError
	if !errors.As(err, &overlap) || overlap.Overlaps[0].UploadID != first.ID || !strings.Contains(err.Error(), "march.csv") ||
		!strings.Contains(err.Error(), day(0)+" to "+day(30)) || !strings.Contains(err.Error(), day(14)+" to "+day(45)) {
		t.Fatalf("an overlapping file: %v; want it refused naming march.csv and both spans", err)
	}
	var uploads int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM uploads WHERE customer_id = $1`, cust).Scan(&uploads); err != nil || uploads != 1 {
		t.Fatalf("%d uploads after the refusal (%v), want 1", uploads, err)
	}
	if _, err := uploader.Upload(ctx, cust, "cigna.csv", strings.NewReader(snapshot("Cigna", 0, 30, "PAID")), nil); err != nil {
		t.Fatalf("another payer's file: %v", err)
	}
	if _, err := uploader.Upload(ctx, cust, "april.csv", strings.NewReader(snapshot("Aetna", 31, 40, "PAID")), nil); err != nil {
		t.Fatalf("the next days' file: %v", err)
	}
	// Replace: Aetna's claims decided day 14 to 45 are the snapshot's now.
	up, err := uploader.Upload(ctx, cust, "snapshot.csv", strings.NewReader(snapshot("Aetna", 14, 45, "DENIED")), &ingest.UploadOptions{Overlap: ingest.OverlapReplace})
	if err != nil {
		t.Fatal(err)
	}
	var aetna, denied, kept int
	if err := pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE outcome = 'DENIED'), count(*) FILTER (WHERE upload_id = $2)
		FROM claim_records WHERE customer_id = $1 AND payer = 'Aetna'`, cust, first.ID).Scan(&aetna, &denied, &kept); err != nil {
		t.Fatal(err)
	}
	if aetna != 2*46 || denied != 32 || kept != 2*14 {
		t.Fatalf("after the replacing snapshot: %d Aetna claims (%d denied), %d left of march.csv; want 92 (32 denied), 28", aetna, denied, kept)
	}
	assertSameAggregate(t, ctx, pool, cust, drift.WindowsFor(drift.Params{AsOf: time.Date(2026, 4, 20, 0, 0, 0, 0, time.UTC), BaselineDays: 60, CurrentDays: 14, MinVolume: 1}))
	// Append: the same dates again, as different claims.
	if _, err := uploader.Upload(ctx, cust, "more.csv", strings.NewReader(snapshot("Aetna", 20, 25, "PAID")), &ingest.UploadOptions{Overlap: ingest.OverlapAppend}); err != nil {
		t.Fatal(err)
	}
	if _, err := uploader.DeleteUpload(ctx, cust, up.ID); err != nil {
		t.Fatal(err)
	}
	assertSameAggregate(t, ctx, pool, cust, drift.WindowsFor(drift.Params{AsOf: time.Date(2026, 4, 20, 0, 0, 0, 0, time.UTC), BaselineDays: 60, CurrentDays: 14, MinVolume: 1}))
}

// Reclassifying renames payers in the upload spans too: a file under the
// mapped name overlaps the earlier file stored under the raw one.
func TestOverlapCheckFollowsReclassifiedPayers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	uploader := testfactory.Uploader(t, pool)
	cust := testfactory.Customer(t, pool, "acme")
	const file = "payer,cpt,submitted_date,decided_date,outcome\n%s,99213,2026-03-01,2026-03-05,PAID\n%s,99213,2026-03-02,2026-03-20,PAID\n"
	if _, err := uploader.Upload(ctx, cust, "raw.csv", strings.NewReader(fmt.Sprintf(file, "AETNA INC", "AETNA INC")), nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := uploader.ReplaceMappingsAndReclassify(ctx, cust, strings.NewReader("raw_name,normalized_name\nAETNA INC,Aetna\n"), nil); err != nil {
		t.Fatal(err)
	}
	_, err := uploader.Upload(ctx, cust, "mapped.csv", strings.NewReader(fmt.Sprintf(file, "Aetna", "Aetna")), nil)
	if !errors.As(err, new(*ingest.OverlapError)) {
		t.Fatalf("a file of the reclassified payer over the same dates: %v, want refused as an overlap", err)
	}
}
