package demo_test

import (
	"context"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/upstream-rcm/upstream/internal/customers"
	"github.com/upstream-rcm/upstream/internal/db"
	"github.com/upstream-rcm/upstream/internal/demo"
	"github.com/upstream-rcm/upstream/internal/drift"
	"github.com/upstream-rcm/upstream/internal/ingest"
	"github.com/upstream-rcm/upstream/internal/testdb"
	"github.com/upstream-rcm/upstream/internal/testfactory"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

// The demo data, uploaded through the real path, yields its three planted
// drifts as the three most severe events.
func TestDemoDataYieldsPlantedDrift(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	cust, err := customers.Create(ctx, db.New(pool), demo.CustomerName)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ingest.ReplaceMappings(ctx, pool, cust.ID, strings.NewReader(demo.PayerMappings), strings.NewReader(demo.CPTGroupMappings)); err != nil {
		t.Fatal(err)
	}
	asOf := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(demo.Generate(pw, asOf, 42)) }()
	up, err := testfactory.Uploader(t, pool).Upload(ctx, cust.ID, "demo.csv", pr)
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
	if len(out.Events) < 3 {
		t.Fatalf("events = %+v, want at least the 3 planted", out.Events)
	}
	want := map[string]bool{
		"Humana/Surgery/DECISION_TIME/up":         true,
		"UnitedHealthcare/Imaging/DENIAL_RATE/up": true,
		"Cigna/E&M/DENIAL_RATE/down":              true,
	}
	for _, e := range out.Events[:3] {
		dir := "up"
		if e.Delta < 0 {
			dir = "down"
		}
		key := e.Payer + "/" + e.CPTGroup + "/" + string(e.Type) + "/" + dir
		if !want[key] {
			t.Errorf("top-3 event %s (severity %.2f) is not a planted drift", key, e.Severity)
		}
	}
}
