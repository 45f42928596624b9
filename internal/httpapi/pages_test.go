package httpapi_test

import (
	"cmp"
	"context"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	alertsdomain "github.com/upstream-rcm/upstream/internal/alerts"
	"github.com/upstream-rcm/upstream/internal/db"
	"github.com/upstream-rcm/upstream/internal/drift"
	"github.com/upstream-rcm/upstream/internal/httpapi"
	"github.com/upstream-rcm/upstream/internal/store"
	"github.com/upstream-rcm/upstream/internal/testfactory"
	"github.com/upstream-rcm/upstream/internal/webhooks"
)

// walk follows a list's next_cursor from path until the last page and
// returns every item (by the key field) in order, checking each page's
// size against limit.
func (e *apiEnv) walk(t *testing.T, path, key, field, id string, limit int) []string {
	t.Helper()
	var out []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 100 {
			t.Fatalf("%s: more than 100 pages", path)
		}
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		q := fmt.Sprintf("%s%slimit=%d", path, sep, limit)
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		body := e.expect(e.do("GET", q, key, "", nil), 200, "page of "+path).json(t)
		items := body[field].([]any)
		if len(items) > limit {
			t.Fatalf("%s: a page of %d items, limit %d", path, len(items), limit)
		}
		for _, it := range items {
			out = append(out, fmt.Sprint(it.(map[string]any)[id]))
		}
		next, _ := body["next_cursor"].(string)
		if next == "" {
			if len(items) == limit && body["next_cursor"] != nil {
				t.Fatalf("%s: next_cursor %v", path, body["next_cursor"])
			}
			return out
		}
		if len(items) != limit {
			t.Fatalf("%s: a short page (%d of %d) with a next_cursor", path, len(items), limit)
		}
		cursor = next
	}
}

func assertEachOnce(t *testing.T, what string, got []string, want int) {
	t.Helper()
	seen := map[string]bool{}
	for _, g := range got {
		if seen[g] {
			t.Fatalf("%s: %s listed twice", what, g)
		}
		seen[g] = true
	}
	if len(got) != want {
		t.Fatalf("%s: %d listed, want %d", what, len(got), want)
	}
}

// Every list the API returns is bounded: by default DefaultPageSize
// items, at most MaxPageSize, and a limit past it is refused; following
// next_cursor lists each item exactly once, alerts first, and a cursor
// keeps reading the run it started on when a newer run arrives.
func TestEveryListIsBoundedAndPaginated(t *testing.T) {
	t.Parallel()
	e := newAPI(t)
	ctx := context.Background()
	id, key := e.customerWithKey("acme")
	base := fmt.Sprintf("/api/v1/customers/%d", id)

	// A stationary customer's run: many seed-rule events, a few alerts.
	const nEvents, nAlerts = 1150, 30
	events := make([]drift.Event, nEvents)
	for i := range events {
		events[i] = drift.Event{Payer: fmt.Sprintf("Payer %03d", i/10), CPTGroup: fmt.Sprintf("G%d", i%10), Type: drift.TypeDenialRate,
			BaselineValue: 0.1, CurrentValue: 0.2, Severity: float64(i%97) / 100, Confidence: 1, BaselineSampleSize: 40, CurrentSampleSize: 40}
		if i%(nEvents/nAlerts) == 0 && i/(nEvents/nAlerts) < nAlerts {
			events[i].Alert, events[i].Evidence = true, &drift.Evidence{Method: drift.MethodDenialRate, P: 0.001, Q: 0.01}
		}
	}
	run := testfactory.ReportRun(t, e.pool, id, nil, events...)

	first := e.expect(e.do("GET", base+"/drift-events", key, "", nil), 200, "first page").json(t)
	if n := len(first["events"].([]any)); n != httpapi.DefaultPageSize || first["next_cursor"] == nil ||
		first["events_total"] != float64(nEvents) || first["alerts_total"] != float64(nAlerts) {
		t.Fatalf("first page: %d events, next %v, totals %v/%v", n, first["next_cursor"], first["events_total"], first["alerts_total"])
	}
	for i, ev := range first["events"].([]any) {
		if alert := ev.(map[string]any)["alert"] == true; alert != (i < nAlerts) {
			t.Fatalf("event %d of the first page: alert %v, want the %d alerts first", i, alert, nAlerts)
		}
	}
	for _, bad := range []string{"?limit=0", fmt.Sprintf("?limit=%d", httpapi.MaxPageSize+1), "?limit=x", "?cursor=", "?cursor=%21%21",
		"?cursor=" + strings.Repeat("A", 2000)} {
		e.expect(e.do("GET", base+"/drift-events"+bad, key, "", nil), 400, "bad page "+bad)
	}
	max := e.expect(e.do("GET", fmt.Sprintf("%s/drift-events?limit=%d", base, httpapi.MaxPageSize), key, "", nil), 200, "max page").json(t)
	if n := len(max["events"].([]any)); n != httpapi.MaxPageSize {
		t.Fatalf("limit=%d gave %d events", httpapi.MaxPageSize, n)
	}

	// A newer run arrives mid-walk: the cursor keeps to the first run.
	page1 := e.expect(e.do("GET", base+"/drift-events?limit=400", key, "", nil), 200, "page 1").json(t)
	testfactory.ReportRun(t, e.pool, id, nil, drift.Event{Payer: "Newer", CPTGroup: "G", Type: drift.TypeDenialRate,
		BaselineValue: 0.1, CurrentValue: 0.2, Severity: 0.5, Confidence: 1, BaselineSampleSize: 40, CurrentSampleSize: 40})
	page2 := e.expect(e.do("GET", base+"/drift-events?limit=400&cursor="+url.QueryEscape(page1["next_cursor"].(string)), key, "", nil), 200, "page 2").json(t)
	if page2["report_run"].(map[string]any)["id"] != float64(run.ID) || len(page2["events"].([]any)) != 400 {
		t.Fatalf("page 2 after a newer run: run %v, %d events; want run %d's next 400", page2["report_run"].(map[string]any)["id"], len(page2["events"].([]any)), run.ID)
	}
	runPath := fmt.Sprintf("%s/report-runs/%d", base, run.ID)
	all := e.walk(t, runPath, key, "events", "id", 333)
	assertEachOnce(t, "run events", all, nEvents)
	alerts := e.walk(t, runPath+"?alert=true", key, "events", "id", 7)
	assertEachOnce(t, "run alerts", alerts, nAlerts)
	for i, a := range alerts {
		if all[i] != a {
			t.Fatalf("event %d: %s, want the alerts first in the full list", i, all[i])
		}
	}
	// A cursor of one run is refused on another.
	e.expect(e.do("GET", fmt.Sprintf("%s/report-runs/%d?cursor=%s", base, run.ID+1, url.QueryEscape(page1["next_cursor"].(string))), key, "", nil), 400, "another run's cursor")

	// Alert subjects, customers (admin) and API keys.
	if _, err := e.pool.Exec(ctx, `INSERT INTO alert_subjects (customer_id, payer, cpt_group, drift_type, updated_at, updated_by)
		SELECT $1, 'P' || (i % 50), 'G' || (i / 50), 'DENIAL_RATE', now() - (i % 7) * interval '1 hour', 'system'
		FROM generate_series(1, 260) AS i`, id); err != nil {
		t.Fatal(err)
	}
	subjects := e.walk(t, base+"/alerts", key, "alerts", "payer", 100)
	if len(subjects) != 260 {
		t.Fatalf("walked %d subjects, want 260", len(subjects))
	}
	if n := len(e.expect(e.do("GET", base+"/alerts", key, "", nil), 200, "alerts").json(t)["alerts"].([]any)); n != httpapi.DefaultPageSize {
		t.Fatalf("alerts: %d by default, want %d", n, httpapi.DefaultPageSize)
	}
	if _, err := e.pool.Exec(ctx, `INSERT INTO customers (name) SELECT 'customer ' || i FROM generate_series(1, 1100) AS i`); err != nil {
		t.Fatal(err)
	}
	assertEachOnce(t, "customers", e.walk(t, "/api/v1/customers", adminKey, "customers", "id", httpapi.MaxPageSize), 1101)
	if _, err := e.pool.Exec(ctx, `INSERT INTO api_keys (customer_id, key_sha256, key_prefix)
		SELECT $1, sha256(('k' || i)::bytea), 'upk_' || i FROM generate_series(1, 150) AS i`, id); err != nil {
		t.Fatal(err)
	}
	assertEachOnce(t, "API keys", e.walk(t, fmt.Sprintf("/api/v1/customers/%d/api-keys", id), adminKey, "api_keys", "prefix", 100), 151)

	// A subject's episodes, newest first, in pages of 20.
	if _, err := e.pool.Exec(ctx, `INSERT INTO alert_episodes (customer_id, payer, cpt_group, drift_type, opened_run_id, opened_as_of,
			last_alert_run_id, last_alert_as_of, severity, direction, resolved_at, resolved_by)
		SELECT $1, 'P1', 'G0', 'DENIAL_RATE', $2, '2026-01-01', $2, '2026-01-01', 0.5, 1, now(), 'system'
		FROM generate_series(1, 45)`, id, run.ID); err != nil {
		t.Fatal(err)
	}
	episodes := e.walk(t, base+"/alerts/history?payer=P1&cpt_group=G0&drift_type=DENIAL_RATE", key, "episodes", "id", alertsdomain.MaxEpisodesListed)
	assertEachOnce(t, "episodes", episodes, 45)

	// Deliveries of an endpoint, newest first.
	ep, _, err := webhooks.CreateEndpoint(ctx, store.New(e.pool), testfactory.Keyring(t), webhooks.Guard{AllowPrivate: true}, id,
		webhooks.EndpointSpec{URL: "http://127.0.0.1:9/"})
	if err != nil {
		t.Fatal(err)
	}
	for range 130 {
		if _, err := webhooks.CreateTestDelivery(ctx, store.New(e.pool), db.Customer{ID: id, Name: "acme"}, ep, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	deliveriesPath := fmt.Sprintf("%s/webhooks/%d/deliveries", base, ep.ID)
	deliveries := e.walk(t, deliveriesPath, key, "deliveries", "id", 50)
	assertEachOnce(t, "deliveries", deliveries, 130)
	if !slices.IsSortedFunc(deliveries, func(a, b string) int { return cmp.Compare(atoi(t, b), atoi(t, a)) }) {
		t.Fatalf("deliveries not newest first: %v", deliveries[:5])
	}

	// Every other list takes a limit with a bound of its own.
	for _, path := range []string{base + "/alerts", "/api/v1/customers", fmt.Sprintf("/api/v1/customers/%d/api-keys", id),
		base + "/uploads", base + "/report-runs", base + "/drift-events", runPath, deliveriesPath} {
		k := key
		if strings.HasSuffix(path, "/customers") || strings.HasSuffix(path, "/api-keys") {
			k = adminKey
		}
		e.expect(e.do("GET", path+"?limit=100000", k, "", nil), 400, "unbounded limit on "+path)
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
