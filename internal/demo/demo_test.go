package demo_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/upstream-rcm/upstream/internal/customers"
	"github.com/upstream-rcm/upstream/internal/demo"
	"github.com/upstream-rcm/upstream/internal/drift"
	"github.com/upstream-rcm/upstream/internal/ingest"
	"github.com/upstream-rcm/upstream/internal/testdb"
	"github.com/upstream-rcm/upstream/internal/testfactory"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

// The demo data, uploaded through the real path, yields exactly its three
// planted drifts as alerts, on any day of the week.
func TestDemoDataAlertsExactlyThePlantedDrift(t *testing.T) {
	t.Parallel()
	for _, asOf := range []time.Time{
		time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC), // Monday
		time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC), // Thursday
		time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC), // Saturday
	} {
		t.Run(asOf.Weekday().String(), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			pool := testdb.New(t)
			cust, err := customers.Create(ctx, pool, demo.CustomerName)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ingest.ReplaceMappings(ctx, pool, cust.ID, strings.NewReader(demo.PayerMappings), strings.NewReader(demo.CPTGroupMappings)); err != nil {
				t.Fatal(err)
			}
			pr, pw := io.Pipe()
			go func() { pw.CloseWithError(demo.Generate(pw, asOf, 42)) }()
			up, err := testfactory.Uploader(t, pool).Upload(ctx, cust.ID, "demo.csv", pr, nil)
			if err != nil {
				t.Fatal(err)
			}
			if up.Rejected != 3 || up.Warnings == 0 || up.Accepted < 20000 {
				t.Fatalf("upload = %d accepted, %d rejected, %d warnings; want >20000, 3 invalid rows, some warnings", up.Accepted, up.Rejected, up.Warnings)
			}
			tx, err := pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx)
			out, err := drift.Compute(ctx, tx, drift.Request{CustomerID: cust.ID, RunType: drift.RunManual, Params: drift.DefaultParams(asOf)})
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]bool{
				"Humana/Surgery/DECISION_TIME/up":         true,
				"UnitedHealthcare/Imaging/DENIAL_RATE/up": true,
				"Cigna/E&M/DENIAL_RATE/down":              true,
			}
			var alerts []string
			for _, e := range out.Events {
				if !e.Alert {
					continue
				}
				dir := "up"
				if e.Evidence.CurrentValue < e.Evidence.BaselineValue {
					dir = "down"
				}
				alerts = append(alerts, e.Payer+"/"+e.CPTGroup+"/"+string(e.Type)+"/"+dir)
			}
			slices.Sort(alerts)
			if len(alerts) != len(want) || !want[alerts[0]] || !want[alerts[1]] || !want[alerts[2]] {
				t.Fatalf("alerts = %q, want exactly the planted %v", alerts, slices.Sorted(maps.Keys(want)))
			}
			// The alerts name what was planted: UHC's new denials are MRIs
			// without prior authorization; Humana's slowdown shows as more
			// claims decided late; the others carry no drivers or none
			// planted to find.
			for _, e := range out.Events {
				switch {
				case e.Alert && e.Type == drift.TypeDecisionTime:
					if d := e.Drivers; d == nil || d.Late == nil || d.Late.CurrentShare <= d.Late.BaselineShare || len(d.Late.SubmissionWeeks) == 0 {
						t.Errorf("%s/%s slowdown drivers = %+v, want more late claims now, by submission week", e.Payer, e.CPTGroup, d)
					}
				case !e.Alert || e.Type != drift.TypeDenialRate:
					if e.Drivers != nil {
						t.Errorf("%s/%s %s (alert %v) has drivers", e.Payer, e.CPTGroup, e.Type, e.Alert)
					}
				case e.Payer == "UnitedHealthcare":
					if d := e.Drivers; d == nil || len(d.DenialReasons) == 0 || d.DenialReasons[0].Code != "CO-197" ||
						len(d.CPTCodes) == 0 || d.CPTCodes[0].Code != "70553" {
						t.Errorf("UnitedHealthcare/Imaging drivers = %+v, want CO-197 and 70553 first", d)
					}
				}
			}
		})
	}
}

// The demo's two overlapping exports, the second bringing denials back
// PAID on appeal, count each claim once: their claims_new sums to the
// single export's claims, the second export's repeats are unchanged and
// its appeals revised, and the run equals the single export's (same
// events, values and claims read), with overturns to report.
func TestDemoExportsCountEachClaimOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	asOf := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	uploader := testfactory.Uploader(t, pool)
	customer := func(name string) int64 {
		cust, err := customers.Create(ctx, pool, name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ingest.ReplaceMappings(ctx, pool, cust.ID, strings.NewReader(demo.PayerMappings), strings.NewReader(demo.CPTGroupMappings)); err != nil {
			t.Fatal(err)
		}
		return cust.ID
	}
	var single, first, second strings.Builder
	if err := demo.Generate(&single, asOf, 42); err != nil {
		t.Fatal(err)
	}
	if err := demo.Exports(&first, &second, asOf, 42); err != nil {
		t.Fatal(err)
	}
	once, twice := customer("once"), customer("twice")
	all, err := uploader.Upload(ctx, once, "all.csv", strings.NewReader(single.String()), nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := uploader.Upload(ctx, twice, "first.csv", strings.NewReader(first.String()), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := uploader.Upload(ctx, twice, "second.csv", strings.NewReader(second.String()), nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.New+b.New != all.New || b.Unchanged < 1000 || b.Revised < 50 {
		t.Fatalf("claims new %d + %d, want the single export's %d; second export %d unchanged, %d revised (want its repeats and appeals)",
			a.New, b.New, all.New, b.Unchanged, b.Revised)
	}
	compute := func(cust int64) *drift.Outcome {
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		out, err := drift.Compute(ctx, tx, drift.Request{CustomerID: cust, RunType: drift.RunManual, Params: drift.DefaultParams(asOf)})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	want, got := compute(once), compute(twice)
	describe := func(out *drift.Outcome) []string {
		var s []string
		for _, e := range out.Events {
			s = append(s, fmt.Sprintf("%s/%s/%s alert=%v %.6f->%.6f n=%d/%d q=%.9f", e.Payer, e.CPTGroup, e.Type, e.Alert,
				e.Evidence.BaselineValue, e.Evidence.CurrentValue, e.Evidence.BaselineSize, e.Evidence.CurrentSize, e.Evidence.Q))
		}
		slices.Sort(s)
		return s
	}
	if !slices.Equal(describe(got), describe(want)) || *got.Run.ClaimsRead != *want.Run.ClaimsRead {
		t.Fatalf("two exports gave\n%v (%d claims read)\nwant the single export's\n%v (%d)", describe(got), *got.Run.ClaimsRead, describe(want), *want.Run.ClaimsRead)
	}
	overturned := func(out *drift.Outcome) int {
		var cells []drift.Overturns
		if err := json.Unmarshal(out.Run.Overturns, &cells); err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, c := range cells {
			n += c.Overturned
		}
		return n
	}
	if got, want := overturned(got), overturned(want); got < 20 || want != 0 {
		t.Fatalf("overturned: %d after the two exports, %d after the single one; want the appeals' and none", got, want)
	}
}

// The demo's exports written as X12 835 remittances instead of CSV (two
// overlapping files, appeals as later versions) give the same three alerts.
func TestDemoFrom835FilesAlertsThePlantedDrift(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	asOf := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	cust, err := customers.Create(ctx, pool, demo.CustomerName)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ingest.ReplaceMappings(ctx, pool, cust.ID, strings.NewReader(demo.PayerMappings), strings.NewReader(demo.CPTGroupMappings)); err != nil {
		t.Fatal(err)
	}
	var first, second strings.Builder
	if err := demo.ExportsX12(&first, &second, asOf, 42); err != nil {
		t.Fatal(err)
	}
	up := testfactory.Uploader(t, pool)
	a, err := up.Upload(ctx, cust.ID, "first.835", strings.NewReader(first.String()), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := up.Upload(ctx, cust.ID, "second.835", strings.NewReader(second.String()), nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.New < 20000 || b.Revised == 0 || b.Unchanged == 0 || a.Rejected+b.Rejected != 0 {
		t.Fatalf("uploads %d new; then %d new, %d revised, %d unchanged; rejected %d: want the claims, the appeals as revisions, the overlap unchanged",
			a.New, b.New, b.Revised, b.Unchanged, a.Rejected+b.Rejected)
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	out, err := drift.Compute(ctx, tx, drift.Request{CustomerID: cust.ID, RunType: drift.RunManual, Params: drift.DefaultParams(asOf)})
	if err != nil {
		t.Fatal(err)
	}
	var alerts []string
	for _, e := range out.Events {
		if e.Alert {
			alerts = append(alerts, e.Payer+"/"+e.CPTGroup+"/"+string(e.Type))
		}
	}
	slices.Sort(alerts)
	if want := []string{"Cigna/E&M/DENIAL_RATE", "Humana/Surgery/DECISION_TIME", "UnitedHealthcare/Imaging/DENIAL_RATE"}; !slices.Equal(alerts, want) {
		t.Fatalf("alerts %q, want %q", alerts, want)
	}
}
