package httpapi_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

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
			Evidence: &drift.Evidence{Method: drift.MethodDenialRate, P: 1e-6, Q: 4e-5}},
		drift.Event{Payer: "Humana <script>", CPTGroup: "Surgery", Type: drift.TypeDecisionTime, BaselineValue: 12, CurrentValue: 25,
			Severity: 1, Confidence: 1, BaselineSampleSize: 584, CurrentSampleSize: 90})
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
	// The alert first, with its evidence in words; the other event after
	// it, collapsed.
	alertsAt, othersAt := strings.Index(body, `<table id="alerts">`), strings.Index(body, `<details id="other-events">`)
	rows := regexp.MustCompile(`(?s)<tr class="event[^"]*"(.*?)</tr>`).FindAllStringSubmatch(body, -1)
	if len(rows) != 2 || alertsAt < 0 || othersAt < alertsAt || !strings.Contains(body, "1 other event:") {
		t.Fatalf("%d event rows, want an alert table then 1 other event collapsed:\n%s", len(rows), body)
	}
	alertRow := regexp.MustCompile(`(?s)<tr class="event alert"(.*?)</tr>`).FindStringSubmatch(body)
	if alertRow == nil || !strings.Contains(alertRow[1], "UnitedHealthcare") || !strings.Contains(alertRow[1], "very strong evidence (q = 4e-05)") ||
		!strings.Contains(alertRow[1], "&#43;23.0 pts") || strings.Index(body, alertRow[0]) > othersAt {
		t.Fatalf("alert row = %q, want UnitedHealthcare with its evidence and its change in points, before the other events", alertRow)
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
