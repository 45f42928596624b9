package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/upstream-rcm/upstream/internal/drift"
	"github.com/upstream-rcm/upstream/internal/testfactory"
	"github.com/upstream-rcm/upstream/internal/worklist"
)

// The claims behind an alert through the API: JSON pages that follow
// their cursor to the same claims the CSV streams, bounded limits, clear
// 4xx for bad input, and another customer's claims out of reach.
func TestClaimsBehindAnAlertThroughTheAPI(t *testing.T) {
	t.Parallel()
	e := newAPI(t)
	acme, key := e.customerWithKey("acme")
	_, otherKey := e.customerWithKey("globex")
	asOf := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	testfactory.Upload(t, testfactory.Uploader(t, e.pool), acme, testfactory.Synthetic(60, "Worklist", asOf)...)
	tx, err := e.pool.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := drift.Compute(context.Background(), tx, drift.Request{CustomerID: acme, RunType: drift.RunManual, Params: drift.DefaultParams(asOf)}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("/api/v1/customers/%d/subjects/%s/OTHER/claims", acme, url.PathEscape("Payer Worklist"))

	var ids []string
	cursor := ""
	for pages := 0; ; pages++ {
		r := e.expect(e.do("GET", base+"?limit=4&cursor="+url.QueryEscape(cursor), key, "", nil), 200, "page")
		var p worklist.Page
		if err := json.Unmarshal(r.body, &p); err != nil {
			t.Fatal(err)
		}
		if len(p.Claims) > 4 || pages > 50 {
			t.Fatalf("page %d has %d claims (limit 4)", pages, len(p.Claims))
		}
		for _, c := range p.Claims {
			ids = append(ids, fmt.Sprintf("%d/%d", c.UploadID, c.SourceRow))
		}
		if p.NextCursor == nil {
			break
		}
		cursor = *p.NextCursor
	}
	r := e.expect(e.do("GET", base+"?format=csv", key, "", nil), 200, "CSV")
	lines := strings.Split(strings.TrimSpace(string(r.body)), "\n")
	if !strings.HasPrefix(r.header.Get("Content-Type"), "text/csv") || len(lines) != len(ids)+1 || len(ids) < 5 {
		t.Fatalf("CSV %q with %d lines, want a header and the %d claims of the pages", r.header.Get("Content-Type"), len(lines), len(ids))
	}
	for i, line := range lines[1:] {
		f := strings.Split(line, ",")
		if got := f[len(f)-2] + "/" + f[len(f)-1]; got != ids[i] {
			t.Fatalf("CSV claim %d is %s, the pages' is %s", i, got, ids[i])
		}
	}
	accepted := e.do("GET", base, key, "", nil, "Accept", "text/csv")
	if string(accepted.body) != string(r.body) {
		t.Fatal("Accept: text/csv and format=csv differ")
	}

	for q, want := range map[string]int{"?limit=0": 400, "?limit=1001": 400, "?limit=x": 400, "?window=later": 400, "?denied=maybe": 400,
		"?cursor=garbage": 400, "?run=0": 400, "?run=99999": 404} {
		e.expect(e.do("GET", base+q, key, "", nil), want, q)
	}
	e.expect(e.do("GET", fmt.Sprintf("/api/v1/customers/%d/subjects/Nobody/OTHER/claims", acme), key, "", nil), 404, "unknown payer")
	e.expect(e.do("GET", base, otherKey, "", nil), 404, "another customer's key")
}
