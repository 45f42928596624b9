package httpapi_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/upstream-rcm/upstream/internal/drift"
	"github.com/upstream-rcm/upstream/internal/testfactory"
)

// The drift page shows the selected run's overturns: of the claims
// initially denied in its windows, those an appeal made PAID.
func TestDriftPageShowsOverturnRate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newAPI(t)
	acme := testfactory.Customer(t, e.pool, "acme")
	uploader := testfactory.Uploader(t, e.pool)
	const header = "claim_id,payer,cpt,submitted_date,decided_date,outcome\n"
	for i, f := range []string{
		header + "A1,Aetna,99213,2026-10-20,2026-11-03,DENIED\nA2,Aetna,99213,2026-10-21,2026-11-04,DENIED\nA3,Aetna,99213,2026-10-22,2026-11-05,PAID\n",
		header + "A1,Aetna,99213,2026-10-20,2026-11-24,PAID\n",
	} {
		if _, err := uploader.Upload(ctx, acme, fmt.Sprintf("export%d.csv", i), strings.NewReader(f), nil); err != nil {
			t.Fatal(err)
		}
	}
	tx, err := e.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := drift.Compute(ctx, tx, drift.Request{CustomerID: acme, RunType: drift.RunManual,
		Params: drift.DefaultParams(time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC))}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	c := newPageClient(t, e.url)
	if status, _, _ := c.post("/login", url.Values{"key": {adminKey}}); status != 303 {
		t.Fatalf("login = %d", status)
	}
	_, _, body := c.get(fmt.Sprintf("/customers/%d", acme))
	row := `<tr class="overturns" data-payer="Aetna"><td>Aetna</td><td>OTHER</td><td>2</td><td>1</td><td>50%</td></tr>`
	if !strings.Contains(body, row) {
		t.Fatalf("page lacks the overturn row %s:\n%s", row, body)
	}
}
