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
)

// The drift page, rendered for a seeded run, shows each event with an
// inline SVG chart of baseline versus current, after logging in.
func TestDriftPageRendersEventsWithCharts(t *testing.T) {
	t.Parallel()
	e := newAPI(t)
	id, _ := e.customerWithKey("Acme Clinic")
	var runID int64
	if err := e.pool.QueryRow(context.Background(), `INSERT INTO report_runs (customer_id, run_type, as_of, baseline_days, current_days, min_volume, status, finished_at,
		baseline_start, baseline_end, current_start, current_end, groups_considered, events_created, claims_read, duration_ms)
		VALUES ($1, 'weekly', '2026-11-23', 90, 14, 30, 'success', now(), '2026-08-11', '2026-11-09', '2026-11-09', '2026-11-23', 3, 2, 420, 7) RETURNING id`, id).Scan(&runID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.pool.Exec(context.Background(), `INSERT INTO drift_events (customer_id, report_run_id, payer, cpt_group, drift_type,
		baseline_value, current_value, delta_value, severity, confidence, baseline_start, baseline_end, current_start, current_end, baseline_sample_size, current_sample_size)
		VALUES ($1, $2, 'UnitedHealthcare', 'Imaging', 'DENIAL_RATE', 0.08, 0.31, 0.23, 0.46, 1, '2026-08-11', '2026-11-09', '2026-11-09', '2026-11-23', 564, 84),
		       ($1, $2, 'Humana <script>', 'Surgery', 'DECISION_TIME', 12, 25, 13, 1, 1, '2026-08-11', '2026-11-09', '2026-11-09', '2026-11-23', 584, 90)`, id, runID); err != nil {
		t.Fatal(err)
	}

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
	if status, body := get("/"); status != 200 || !strings.Contains(body, `name="admin_key"`) {
		t.Fatalf("anonymous / = %d, want the login form:\n%s", status, body)
	}
	resp, err := client.PostForm(e.url+"/login", url.Values{"admin_key": {"wrong"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("wrong admin key: %d, want 401", resp.StatusCode)
	}
	resp, err = client.PostForm(e.url+"/login", url.Values{"admin_key": {adminKey}})
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
	rows := regexp.MustCompile(`(?s)<tr class="event"(.*?)</tr>`).FindAllStringSubmatch(body, -1)
	if len(rows) != 2 {
		t.Fatalf("%d event rows, want 2:\n%s", len(rows), body)
	}
	// Most severe first; each with a two-bar chart labelled in its unit.
	for i, want := range []struct{ payer, baseline, current string }{
		{"Humana &lt;script&gt;", "12.0 d", "25.0 d"},
		{"UnitedHealthcare", "8.0%", "31.0%"},
	} {
		row := rows[i][1]
		if !strings.Contains(row, want.payer) || !strings.Contains(row, `<svg class="chart"`) ||
			strings.Count(row, `<rect class="baseline"`) != 1 || strings.Count(row, `<rect class="current"`) != 1 ||
			!strings.Contains(row, ">"+want.baseline+"<") || !strings.Contains(row, ">"+want.current+"<") {
			t.Errorf("event row %d lacks %+v:\n%s", i, want, row)
		}
	}
	// The larger value gets the full-width bar.
	if !strings.Contains(rows[0][1], `class="current" x="0" y="21" width="160"`) {
		t.Errorf("current bar of the decision-time event is not the full 160px:\n%s", rows[0][1])
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
