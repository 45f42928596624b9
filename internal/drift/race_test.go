package drift_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/upstream-rcm/upstream/internal/drift"
	"github.com/upstream-rcm/upstream/internal/testdb"
	"github.com/upstream-rcm/upstream/internal/testfactory"
	"github.com/upstream-rcm/upstream/jobs"
)

// Uploads (most with overlapping claim ids, some without ids), deletions
// and reclassifications of one customer race each other and two River
// workers computing. Every operation must succeed (it
// waits where it must, never fails for it), no claim may keep a superseded
// mapping, and the statistics must end equal to the claims', on both
// bases, drivers included. Several rounds, so the interleavings vary.
func TestUploadsDeletionsAndReclassificationsRaceToExactStatistics(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	uploader := testfactory.Uploader(t, pool)
	cust := testfactory.Customer(t, pool, "acme")
	origin := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	mappings := []struct{ payers, groups string }{
		{"raw_name,normalized_name\nAETNA INC,Aetna\n", "cpt,cpt_group\n99213,E&M\n99214,E&M\n70553,Imaging\n"},
		{"raw_name,normalized_name\nAETNA INC,Aetna Health\nAetna,Aetna Health\nHumana,Humana Inc.\n", "cpt,cpt_group\n99213,Office\n70553,Radiology\n0001U,Lab\n"},
	}
	client, err := river.NewClient(riverpgxv5.New(pool), jobs.Config(&jobs.Deps{Pool: pool}, jobs.Workers{jobs.QueueDrift: 2}))
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = jobs.StopGracefully(client, 10*time.Second, nil) })

	claims := billingSystem(rand.New(rand.NewPCG(9, 9)), origin.AddDate(0, 0, -200), 200)
	// file is an export with claim ids (a random 30% of the versions, so
	// files overlap), or, for one file in three, 400 claims without ids.
	file := func(seed uint64) string {
		rng := rand.New(rand.NewPCG(seed, 41))
		if seed%3 == 0 {
			return randomClaims(rng, 400, origin)
		}
		var b strings.Builder
		b.WriteString(versionHeader)
		for _, vs := range claims {
			for _, v := range vs {
				if rng.IntN(10) < 3 {
					b.WriteString(v.row() + "\n")
				}
			}
		}
		return b.String()
	}
	var uploads []int64
	upload := func(name string, seed uint64) error {
		up, err := uploader.Upload(ctx, cust, name, strings.NewReader(file(seed)), differentClaims)
		if err == nil {
			uploads = append(uploads, up.ID)
		}
		return err
	}
	for i := range 4 {
		if err := upload(fmt.Sprintf("seed%d.csv", i), uint64(i)); err != nil {
			t.Fatal(err)
		}
	}
	for round := range 3 {
		doomed := uploads[:3]
		uploads = uploads[3:]
		var wg sync.WaitGroup
		var mu sync.Mutex
		fail := func(what string, err error) {
			if err != nil {
				mu.Lock()
				defer mu.Unlock()
				t.Errorf("round %d, %s: %v", round, what, err)
			}
		}
		for i := range 10 {
			wg.Go(func() {
				up, err := uploader.Upload(ctx, cust, fmt.Sprintf("r%d-%d.csv", round, i), strings.NewReader(file(uint64(1000+100*round+i))), differentClaims)
				fail("upload", err)
				if err == nil {
					mu.Lock()
					uploads = append(uploads, up.ID)
					mu.Unlock()
				}
			})
		}
		for _, id := range doomed {
			wg.Go(func() {
				_, err := uploader.DeleteUpload(ctx, cust, id)
				fail(fmt.Sprintf("delete upload %d", id), err)
			})
		}
		for k := range 2 {
			wg.Go(func() {
				m := mappings[(round+k)%2]
				_, _, err := uploader.ReplaceMappingsAndReclassify(ctx, cust, strings.NewReader(m.payers), strings.NewReader(m.groups))
				fail("reclassify", err)
			})
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		var stale int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM claim_records c
			WHERE c.customer_id = $1 AND c.cpt_group <> coalesce(
			    (SELECT m.cpt_group FROM cpt_group_mappings m WHERE m.customer_id = c.customer_id AND m.cpt = upper(btrim(c.cpt))), 'OTHER')`,
			cust).Scan(&stale); err != nil || stale != 0 {
			t.Fatalf("round %d: %d claims keep a superseded CPT group mapping (%v)", round, stale, err)
		}
		for _, w := range []drift.Windows{drift.WindowsFor(drift.DefaultParams(origin)), drift.WindowsFor(drift.Params{AsOf: origin, BaselineDays: 200, CurrentDays: 30, MinVolume: 1})} {
			assertSameAggregate(t, ctx, pool, cust, w)
		}
		assertClaimsTableMatchesVersions(t, ctx, pool, cust)
	}
	if err := jobs.WaitIdle(ctx, pool, 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	var failed int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM report_runs WHERE customer_id = $1 AND status <> 'success'`, cust).Scan(&failed); err != nil || failed != 0 {
		t.Fatalf("%d failed computations (%v)", failed, err)
	}
}
