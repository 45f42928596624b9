package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/upstream-rcm/upstream/internal/drift"
	"github.com/upstream-rcm/upstream/internal/testfactory"
)

// The drift page, rendered for a seeded run, shows each event with an
// inline SVG chart of baseline versus current, after logging in.
func TestDriftPageRendersEventsWithCharts(t *testing.T) {
	t.Parallel()
	e := newAPI(t)
	id, _ := e.customerWithKey("Acme Clinic")
	run := testfactory.ReportRun(t, e.pool, id, &testfactory.RunOpts{RunType: drift.RunWeekly, ClaimsRead: 420},
		drift.Event{Payer: "UnitedHealthcare", CPTGroup: "Imaging", Type: drift.TypeDenialRate, BaselineValue: 0.08, CurrentValue: 0.31,
			Severity: 0.46, Confidence: 1, BaselineSampleSize: 564, CurrentSampleSize: 84, SeedRule: true, Alert: true,
			Evidence: &drift.Evidence{Method: drift.MethodDenialRate, P: 1e-6, Q: 4e-5},
			Drivers: &drift.Drivers{DenialReasons: []drift.Driver{{Code: "CO-197", BaselineDenied: 12, CurrentDenied: 20, BaselineShare: 0.02, CurrentShare: 0.2, Change: 0.18}},
				CPTCodes: []drift.Driver{{Code: "<b>70553", BaselineDenied: 10, CurrentDenied: 19, BaselineShare: 0.03, CurrentShare: 0.19, Change: 0.16}}}},
		drift.Event{Payer: "Humana <script>", CPTGroup: "Surgery", Type: drift.TypeDecisionTime, BaselineValue: 12, CurrentValue: 25,
			Severity: 1, Confidence: 1, BaselineSampleSize: 584, CurrentSampleSize: 90},
		drift.Event{Payer: "Cigna", CPTGroup: "Lab", Type: drift.TypeDenialRate, BaselineValue: 0.05, CurrentValue: 0.155,
			Severity: 0.2, Confidence: 1, BaselineSampleSize: 100, CurrentSampleSize: 50})
	runID := run.ID

	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar}
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := client.Get(e.url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		return resp.StatusCode, readAll(t, resp)
	}
	// Not logged in: the login form.
	if status, body := get("/"); status != 200 || !strings.Contains(body, `name="key"`) {
		t.Fatalf("anonymous / = %d, want the login form:\n%s", status, body)
	}
	resp, err := client.PostForm(e.url+"/login", url.Values{"key": {"wrong"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("wrong admin key: %d, want 401", resp.StatusCode)
	}
	resp, err = client.PostForm(e.url+"/login", url.Values{"key": {adminKey}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, c := range jar.Cookies(mustURL(t, e.url)) {
		if strings.Contains(c.Value, adminKey) {
			t.Fatal("the session cookie contains the admin key")
		}
	}

	status, body := get("/")
	if status != 200 || !strings.Contains(body, "Acme Clinic") || !strings.Contains(body, fmt.Sprintf("#%d", runID)) || !strings.Contains(body, `href="/riverui/"`) {
		t.Fatalf("customers page = %d:\n%s", status, body)
	}
	status, body = get(fmt.Sprintf("/customers/%d", id))
	if status != 200 {
		t.Fatalf("customer page = %d", status)
	}
	// The alert first, with its evidence in words; the other event after
	// it, collapsed.
	alertsAt, othersAt := strings.Index(body, `<table id="alerts">`), strings.Index(body, `<details id="other-events">`)
	rows := regexp.MustCompile(`(?s)<tr class="event[^"]*"(.*?)</tr>`).FindAllStringSubmatch(body, -1)
	if len(rows) != 3 || alertsAt < 0 || othersAt < alertsAt || !strings.Contains(body, "2 other events:") {
		t.Fatalf("%d event rows, want an alert table then 2 other events collapsed:\n%s", len(rows), body)
	}
	// Bars share one scale per metric: 15.5% is half of the largest rate.
	if !strings.Contains(rows[2][1], `class="current" x="0" y="21" width="80"`) {
		t.Errorf("Cigna's current bar is not on the denial rates' shared scale:\n%s", rows[2][1])
	}
	alertRow := regexp.MustCompile(`(?s)<tr class="event alert"(.*?)</tr>`).FindStringSubmatch(body)
	if alertRow == nil || !strings.Contains(alertRow[1], "UnitedHealthcare") || !strings.Contains(alertRow[1], "very strong evidence, q = 4e-05, last 14 days") ||
		!strings.Contains(alertRow[1], "&#43;23.0 pts") || strings.Index(body, alertRow[0]) > othersAt {
		t.Fatalf("alert row = %q, want UnitedHealthcare with its evidence and its change in points, before the other events", alertRow)
	}
	// Why: the alert's drivers in a row right after it.
	why := regexp.MustCompile(`(?s)<tr class="drivers">(.*?)</tr>`).FindStringSubmatch(body)
	if why == nil || strings.Index(body, why[0]) < strings.Index(body, alertRow[0]) || strings.Index(body, why[0]) > othersAt ||
		!strings.Contains(why[1], "denial reason CO-197 2.0% → 20.0% (&#43;18.0 pts, 12 → 20 denials)") ||
		!strings.Contains(why[1], "CPT &lt;b&gt;70553 3.0% → 19.0%") {
		t.Errorf("drivers row = %q, want CO-197 and 70553 after the alert", why)
	}
	// Each with a two-bar chart labelled in its unit.
	for i, want := range []struct{ payer, baseline, current string }{
		{"UnitedHealthcare", "8.0%", "31.0%"},
		{"Humana &lt;script&gt;", "12.0 d", "25.0 d"},
	} {
		row := rows[i][1]
		if !strings.Contains(row, want.payer) || !strings.Contains(row, `<svg class="chart"`) ||
			strings.Count(row, `<rect class="baseline"`) != 1 || strings.Count(row, `<rect class="current"`) != 1 ||
			!strings.Contains(row, ">"+want.baseline+"<") || !strings.Contains(row, ">"+want.current+"<") {
			t.Errorf("event row %d lacks %+v:\n%s", i, want, row)
		}
	}
	// The larger value gets the full-width bar.
	if !strings.Contains(rows[1][1], `class="current" x="0" y="21" width="160"`) {
		t.Errorf("current bar of the decision-time event is not the full 160px:\n%s", rows[1][1])
	}
	if strings.Contains(body, "<script>") {
		t.Fatal("event text not escaped")
	}
	if status, _ := get("/customers/999999"); status != 404 {
		t.Fatalf("unknown customer page = %d, want 404", status)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// pageClient is a browser: a cookie jar, and no automatic redirects so
// tests see where the page sends it.
type pageClient struct {
	t      *testing.T
	base   string
	client *http.Client
}

func newPageClient(t *testing.T, base string) *pageClient {
	jar, _ := cookiejar.New(nil)
	return &pageClient{t: t, base: base, client: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (c *pageClient) get(path string) (int, http.Header, string) {
	c.t.Helper()
	resp, err := c.client.Get(c.base + path)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	return resp.StatusCode, resp.Header, readAll(c.t, resp)
}

func (c *pageClient) post(path string, form url.Values) (int, http.Header, string) {
	c.t.Helper()
	resp, err := c.client.PostForm(c.base+path, form)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	return resp.StatusCode, resp.Header, readAll(c.t, resp)
}

var csrfInput = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (c *pageClient) csrf(body string) string {
	c.t.Helper()
	m := csrfInput.FindStringSubmatch(body)
	if m == nil {
		c.t.Fatalf("no CSRF token on the page:\n%s", body)
	}
	return m[1]
}

// A customer key logs in to its own customer only and can act on its
// alerts with a CSRF token; sessions live server-side, so logging out
// makes the old cookie worthless.
func TestCustomerLoginSessionsAndAlertActions(t *testing.T) {
	t.Parallel()
	e := newAPI(t)
	acme, acmeKey := e.customerWithKey("acme")
	// Claims some of which were decided in the run's current window, for
	// the grid of cells.
	gridClaims := testfactory.Synthetic(21, "Grid", time.Date(2026, 11, 16, 0, 0, 0, 0, time.UTC))
	testfactory.Upload(t, testfactory.Uploader(t, e.pool), acme, gridClaims...)
	var inWindow, deniedInWindow int
	for _, c := range gridClaims {
		if d := c.Submitted.AddDate(0, 0, c.DecisionDays); !d.Before(time.Date(2026, 11, 9, 0, 0, 0, 0, time.UTC)) {
			inWindow++
			if c.Outcome == "DENIED" {
				deniedInWindow++
			}
		}
	}
	globex, _ := e.customerWithKey("globex")
	run := testfactory.ReportRun(t, e.pool, acme, nil, drift.Event{Payer: "Aetna", CPTGroup: "E&M", Type: drift.TypeDenialRate,
		BaselineValue: 0.1, CurrentValue: 0.4, Severity: 0.6, Confidence: 1, BaselineSampleSize: 100, CurrentSampleSize: 80, SeedRule: true, Alert: true,
		Evidence: &drift.Evidence{Method: drift.MethodDenialRate, P: 1e-5, Q: 1e-4}})
	if _, err := e.pool.Exec(context.Background(), `INSERT INTO alert_subjects (customer_id, payer, cpt_group, drift_type, updated_by, last_alert_run_id)
		VALUES ($1, 'Aetna', 'E&M', 'DENIAL_RATE', 'system', $2)`, acme, run.ID); err != nil {
		t.Fatal(err)
	}

	if _, err := e.pool.Exec(context.Background(), `
		WITH ep AS (INSERT INTO webhook_endpoints (customer_id, url, secret) VALUES ($1, 'https://hooks.example.com/acme', 'whsec_AAAA') RETURNING id),
		     d AS (INSERT INTO webhook_deliveries (customer_id, endpoint_id, report_run_id, message_id, payload, attempts)
		           SELECT $1, id, $2, 'msg_page_test', '{}', 1 FROM ep RETURNING id)
		INSERT INTO webhook_attempts (delivery_id, status_code, latency_ms, error) SELECT id, 503, 42, NULL FROM d`, acme, run.ID); err != nil {
		t.Fatal(err)
	}
	c := newPageClient(t, e.url)
	if status, _, _ := c.post("/login", url.Values{"key": {acmeKey}}); status != http.StatusSeeOther {
		t.Fatalf("customer login = %d, want 303", status)
	}
	if status, h, _ := c.get("/"); status != http.StatusSeeOther || h.Get("Location") != fmt.Sprintf("/customers/%d", acme) {
		t.Fatalf("/ for a customer = %d to %q, want its own page", status, h.Get("Location"))
	}
	status, h, body := c.get(fmt.Sprintf("/customers/%d", acme))
	if !regexp.MustCompile(`msg_page_test, run #\d+</td><td>pending</td>\s*<td>[0-9: -]+ 503 42 ms`).MatchString(body) {
		t.Fatalf("the page does not show the delivery and its attempt:\n%s", body)
	}
	if status != 200 || !strings.Contains(body, "Acknowledge") || h.Get("X-Frame-Options") != "DENY" || !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Fatalf("own page = %d (frame headers %q, %q):\n%s", status, h.Get("X-Frame-Options"), h.Get("Content-Security-Policy"), body)
	}
	if status, h, body := c.get(fmt.Sprintf("/customers/%d", globex)); status != 404 || !strings.Contains(h.Get("Content-Type"), "text/html") || strings.Contains(body, "globex") {
		t.Fatalf("another customer's page = %d %q, want an HTML 404 that does not name it", status, h.Get("Content-Type"))
	}
	token := c.csrf(body)
	form := url.Values{"payer": {"Aetna"}, "cpt_group": {"E&M"}, "drift_type": {"DENIAL_RATE"}, "note": {"called them"}, "run": {fmt.Sprint(run.ID)}}
	if status, _, _ := c.post(fmt.Sprintf("/customers/%d/alerts/ack", acme), form); status != http.StatusForbidden {
		t.Fatalf("ack without the CSRF token = %d, want 403", status)
	}
	form.Set("csrf", token)
	if status, _, _ := c.post(fmt.Sprintf("/customers/%d/alerts/ack", globex), form); status != 404 {
		t.Fatalf("ack on another customer = %d, want 404", status)
	}
	if status, h, _ := c.post(fmt.Sprintf("/customers/%d/alerts/ack", acme), form); status != http.StatusSeeOther || !strings.Contains(h.Get("Location"), fmt.Sprint(run.ID)) {
		t.Fatalf("ack = %d to %q, want back to the run", status, h.Get("Location"))
	}
	var state, by string
	if err := e.pool.QueryRow(context.Background(), `SELECT state, updated_by FROM alert_subjects WHERE customer_id = $1`, acme).Scan(&state, &by); err != nil ||
		state != "acknowledged" || !strings.HasPrefix(by, "upk_") || !strings.Contains(acmeKey, by) {
		t.Fatalf("subject %s by %s (%v), want acknowledged by the key's prefix", state, by, err)
	}
	if _, _, body := c.get(fmt.Sprintf("/customers/%d", acme)); !strings.Contains(body, "acknowledged by upk_") {
		t.Fatalf("page does not show the acknowledgement:\n%s", body)
	}

	// A customer's session shows only what it may use: no customers list,
	// no River UI.
	if strings.Contains(body, `href="/riverui/"`) || strings.Contains(body, `<a href="/">Customers</a>`) {
		t.Fatalf("a customer's page links the admin's pages:\n%s", body)
	}
	// Every cell is one click from its trend, and the runs table shows
	// each run's windows and alerts.
	cell := regexp.MustCompile(`<a class="cell" data-payer="Payer Grid" data-cpt-group="OTHER" href="([^"]+)">([^<]*)<`).FindStringSubmatch(body)
	if cell == nil || !strings.Contains(cell[1], "trend_payer=Payer%20Grid&amp;trend_group=OTHER") ||
		cell[2] != fmt.Sprintf("%.1f%% ", 100*float64(deniedInWindow)/float64(inWindow)) {
		t.Fatalf("grid cell = %q, want Payer Grid / OTHER's denial rate linking its trend:\n%s", cell, body)
	}
	runRow := regexp.MustCompile(`(?s)<tr><td><a href="\?run=` + fmt.Sprint(run.ID) + `">.*?</tr>`).FindString(body)
	if !strings.Contains(runRow, "2026-08-11 – 2026-11-09") || !strings.Contains(runRow, `<td class="alerts">`) {
		t.Fatalf("runs table row = %q, want the baseline window and the alert count", runRow)
	}

	// The trend of an alert's payer and group, drawn with labelled axes.
	if _, _, body := c.get(fmt.Sprintf("/customers/%d?trend_payer=Aetna&trend_group=E%%26M", acme)); strings.Count(body, `<svg class="trend"`) != 2 ||
		!strings.Contains(body, "Trend: Aetna / E&amp;M, last 26 weeks") {
		t.Fatalf("trend charts missing:\n%s", body)
	}
	// Filters and the CSV download of what the page shows.
	if _, _, body := c.get(fmt.Sprintf("/customers/%d?payer=Cigna", acme)); strings.Contains(body, `data-payer="Aetna"`) {
		t.Fatalf("payer filter kept Aetna:\n%s", body)
	}
	if _, _, body := c.get(fmt.Sprintf("/customers/%d?alerts=1&type=DENIAL_RATE", acme)); !strings.Contains(body, `class="event alert" data-payer="Aetna"`) || !strings.Contains(body, `id="csv"`) {
		t.Fatalf("alerts filter lost the alert or the CSV link:\n%s", body)
	}
	if status, _, _ := c.get(fmt.Sprintf("/customers/%d?type=NOPE", acme)); status != 400 {
		t.Fatalf("bad type filter = %d, want 400", status)
	}
	status, h, csvBody := c.get(fmt.Sprintf("/customers/%d/events.csv?run=%d&alerts=1", acme, run.ID))
	if status != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/csv") || strings.Count(csvBody, "\n") != 2 || !strings.Contains(csvBody, "Aetna") {
		t.Fatalf("CSV = %d %q:\n%s", status, h.Get("Content-Type"), csvBody)
	}
	if status, _, _ := c.get(fmt.Sprintf("/customers/%d/events.csv", globex)); status != 404 {
		t.Fatalf("another customer's CSV = %d, want 404", status)
	}

	// Revoking the key ends the sessions opened with it.
	other := newPageClient(t, e.url)
	if status, _, _ := other.post("/login", url.Values{"key": {acmeKey}}); status != http.StatusSeeOther {
		t.Fatalf("second login = %d", status)
	}
	if _, err := e.pool.Exec(context.Background(), `UPDATE api_keys SET revoked_at = now() WHERE customer_id = $1`, acme); err != nil {
		t.Fatal(err)
	}
	if status, h, _ := other.get(fmt.Sprintf("/customers/%d", acme)); status != http.StatusSeeOther || h.Get("Location") != "/login" {
		t.Fatalf("a session of a revoked key still works: %d %q", status, h.Get("Location"))
	}
	if _, err := e.pool.Exec(context.Background(), `UPDATE api_keys SET revoked_at = NULL WHERE customer_id = $1`, acme); err != nil {
		t.Fatal(err)
	}

	// Log out: the session is deleted, so replaying its cookie gets the login.
	cookies := c.client.Jar.Cookies(mustURL(t, e.url))
	if status, _, _ := c.post("/logout", url.Values{"csrf": {token}}); status != http.StatusSeeOther {
		t.Fatalf("logout = %d", status)
	}
	replay, _ := http.NewRequest("GET", e.url+fmt.Sprintf("/customers/%d", acme), nil)
	for _, ck := range cookies {
		replay.AddCookie(ck)
	}
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(replay)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Fatalf("the logged-out session's cookie still works: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	var sessions int
	if err := e.pool.QueryRow(context.Background(), `SELECT count(*) FROM sessions`).Scan(&sessions); err != nil || sessions != 0 {
		t.Fatalf("%d sessions left after logout (%v)", sessions, err)
	}
}
