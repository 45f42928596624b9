package drift_test

// Fixing data (deleting an upload, reclassifying) leaves the statistics
// of the claims that remain.

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

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", for goose

	"github.com/upstream-rcm/upstream/internal/drift"
	"github.com/upstream-rcm/upstream/internal/ingest"
	"github.com/upstream-rcm/upstream/internal/testdb"
	"github.com/upstream-rcm/upstream/internal/testfactory"
)

// Deleting an upload subtracts exactly its claims: the statistics equal
// those of the remaining claims, through both statistics paths, while other
// uploads of the customer commit at the same time.
func TestDeletingAnUploadLeavesTheStatisticsOfTheRemainingClaims(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	uploader := testfactory.Uploader(t, pool)
	readBack := &ingest.UploadOptions{MaxStatRows: 5, Overlap: ingest.OverlapAppend}
	custID := testfactory.Customer(t, pool, "acme")
	origin := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	var ids []int64
	for seed := range uint64(4) {
		rng := rand.New(rand.NewPCG(seed, 21))
		opts := differentClaims
		if seed%2 == 1 {
			opts = readBack
		}
		up, err := uploader.Upload(ctx, custID, fmt.Sprintf("u%d.csv", seed), strings.NewReader(randomClaims(rng, 800, origin)), opts)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, up.ID)
	}
	var wg sync.WaitGroup
	for i, id := range ids[:2] {
		wg.Go(func() {
			if _, err := uploader.DeleteUpload(ctx, custID, id); err != nil {
				t.Errorf("delete upload %d: %v", id, err)
			}
		})
		wg.Go(func() { // an upload racing the deletion over the same keys
			rng := rand.New(rand.NewPCG(uint64(100+i), 21))
			if _, err := uploader.Upload(ctx, custID, fmt.Sprintf("late%d.csv", i), strings.NewReader(randomClaims(rng, 800, origin)), differentClaims); err != nil {
				t.Errorf("racing upload: %v", err)
			}
		})
	}
	wg.Wait()
	if _, err := uploader.DeleteUpload(ctx, custID, ids[0]); !errors.Is(err, ingest.ErrUploadNotFound) {
		t.Fatalf("deleting it again: %v, want ErrUploadNotFound", err)
	}
	var claims, requests int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM claim_records WHERE upload_id = ANY($1)), (SELECT count(*) FROM drift_requests WHERE upload_id IS NULL)`,
		ids[:2]).Scan(&claims, &requests); err != nil || claims != 0 || requests != 2 {
		t.Fatalf("%d claims of deleted uploads left, %d drift requests from deletions (%v); want 0 and 2", claims, requests, err)
	}
	for _, w := range []drift.Windows{drift.WindowsFor(drift.DefaultParams(origin)), drift.WindowsFor(drift.Params{AsOf: origin, BaselineDays: 180, CurrentDays: 30, MinVolume: 1})} {
		assertSameAggregate(t, ctx, pool, custID, w)
	}
	// Deleting every upload leaves no statistics at all.
	rows, err := pool.Query(ctx, `SELECT id FROM uploads WHERE customer_id = $1`, custID)
	if err != nil {
		t.Fatal(err)
	}
	rest, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range rest {
		if _, err := uploader.DeleteUpload(ctx, custID, id); err != nil {
			t.Fatal(err)
		}
	}
	var left int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM claim_stats WHERE customer_id = $1`, custID).Scan(&left); err != nil || left != 0 {
		t.Fatalf("%d statistics rows left after deleting every upload (%v)", left, err)
	}
}

// The mistake of uploading before loading mappings is fixed by loading
// them with reclassification: the statistics then equal those of a
// customer who loaded the mappings first and uploaded the same file.
func TestReclassifyingEqualsUploadingWithMappings(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	uploader := testfactory.Uploader(t, pool)
	origin := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	file := randomClaims(rand.New(rand.NewPCG(3, 3)), 3000, origin)
	const payers = "raw_name,normalized_name\nAETNA INC,Aetna\nHumana,Humana Inc.\n"
	const groups = "cpt,cpt_group\n99213,E&M\n99214,E&M\n70553,Imaging\n"

	clean := testfactory.Customer(t, pool, "clean")
	if _, err := ingest.ReplaceMappings(ctx, pool, clean, strings.NewReader(payers), strings.NewReader(groups)); err != nil {
		t.Fatal(err)
	}
	if _, err := uploader.Upload(ctx, clean, "claims.csv", strings.NewReader(file), nil); err != nil {
		t.Fatal(err)
	}
	fixed := testfactory.Customer(t, pool, "fixed")
	if _, err := uploader.Upload(ctx, fixed, "claims.csv", strings.NewReader(file), nil); err != nil {
		t.Fatal(err)
	}
	_, res, err := uploader.ReplaceMappingsAndReclassify(ctx, fixed, strings.NewReader(payers), strings.NewReader(groups))
	if err != nil {
		t.Fatal(err)
	}
	if res.PayerClaims == 0 || res.GroupClaims == 0 || res.JobID == 0 {
		t.Fatalf("reclassified = %+v, want payers renamed, groups moved and a drift job", res)
	}
	for _, w := range []drift.Windows{drift.WindowsFor(drift.DefaultParams(origin)), drift.WindowsFor(drift.Params{AsOf: origin, BaselineDays: 200, CurrentDays: 20, MinVolume: 1})} {
		want, err := drift.Aggregate(ctx, pool, clean, w)
		if err != nil {
			t.Fatal(err)
		}
		got, err := drift.Aggregate(ctx, pool, fixed, w)
		if err != nil {
			t.Fatal(err)
		}
		if len(want) == 0 || !reflect.DeepEqual(got, want) {
			t.Fatalf("reclassified statistics:\n%+v\nwant those of the clean upload:\n%+v", got, want)
		}
		assertSameAggregate(t, ctx, pool, fixed, w)
	}
}
