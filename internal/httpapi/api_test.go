package httpapi_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/upstream-rcm/upstream/internal/drift"
	"github.com/upstream-rcm/upstream/internal/httpapi"
	"github.com/upstream-rcm/upstream/internal/testdb"
	"github.com/upstream-rcm/upstream/internal/testfactory"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

const adminKey = "test-admin-key-0123456789"

type apiEnv struct {
	t    testing.TB
	pool *pgxpool.Pool
	url  string
}

func newAPI(t testing.TB, configure ...func(*httpapi.Config)) *apiEnv {
	t.Helper()
	pool := testdb.New(t)
	cfg := httpapi.Config{Pool: pool, River: testfactory.InsertOnlyClient(t, pool), AdminKey: adminKey, Keyring: testfactory.Keyring(t)}
	for _, f := range configure {
		f(&cfg)
	}
	srv, err := httpapi.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return &apiEnv{t: t, pool: pool, url: ts.URL}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response %d is not JSON: %v\n%s", r.status, err, r.body)
	}
	return m
}

func (r response) errorCode(t testing.TB) string {
	t.Helper()
	e, ok := r.json(t)["error"].(map[string]any)
	if !ok {
		t.Fatalf("response %d has no error envelope: %s", r.status, r.body)
	}
	return e["code"].(string)
}

func (e *apiEnv) do(method, path, key, contentType string, body io.Reader, headers ...string) response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func (e *apiEnv) expect(r response, status int, what string) response {
	e.t.Helper()
	if r.status != status {
		e.t.Fatalf("%s: status %d, want %d: %s", what, r.status, status, r.body)
	}
	return r
}

// customerWithKey creates a customer and a key for it through the API.
func (e *apiEnv) customerWithKey(name string) (int64, string) {
	e.t.Helper()
	r := e.expect(e.do("POST", "/api/v1/customers", adminKey, "application/json", strings.NewReader(`{"name":"`+name+`"}`)), 201, "create customer")
	id := int64(r.json(e.t)["id"].(float64))
	r = e.expect(e.do("POST", fmt.Sprintf("/api/v1/customers/%d/api-keys", id), adminKey, "", nil), 201, "create key")
	return id, r.json(e.t)["key"].(string)
}

func claimsBody(n int, salt string, asOf time.Time) string {
	return testfactory.ClaimsCSV(testfactory.Synthetic(n, salt, asOf)...)
}

func TestCustomersAndKeysAreAdminOnly(t *testing.T) {
	t.Parallel()
	e := newAPI(t)
	id, key := e.customerWithKey("acme")
	if !strings.HasPrefix(key, "upk_") || len(key) < 40 {
		t.Fatalf("key %q does not look like a 256-bit key", key)
	}
	e.expect(e.do("POST", "/api/v1/customers", "", "application/json", strings.NewReader(`{"name":"x"}`)), 401, "no key")
	e.expect(e.do("POST", "/api/v1/customers", "upk_wrong", "application/json", strings.NewReader(`{"name":"x"}`)), 401, "invalid key")
	e.expect(e.do("POST", "/api/v1/customers", key, "application/json", strings.NewReader(`{"name":"x"}`)), 403, "customer key creating customers")
	e.expect(e.do("POST", fmt.Sprintf("/api/v1/customers/%d/api-keys", id), key, "", nil), 403, "customer key issuing its own keys")
	e.expect(e.do("POST", "/api/v1/customers", adminKey, "application/json", strings.NewReader(`{"name":"acme"}`)), 409, "duplicate name")
	e.expect(e.do("POST", "/api/v1/customers", adminKey, "application/json", strings.NewReader(`{"name":"  "}`)), 422, "blank name")
	e.expect(e.do("POST", "/api/v1/customers/999999/api-keys", adminKey, "", nil), 404, "key for unknown customer")
	// Only the hash is stored.
	var stored int
	if err := e.pool.QueryRow(context.Background(), `SELECT count(*) FROM api_keys WHERE encode(key_sha256, 'escape') LIKE '%' || $1 || '%'`, key[4:20]).Scan(&stored); err != nil || stored != 0 {
		t.Fatalf("the key appears in the database in clear (%d, %v)", stored, err)
	}
}

func TestMalformedJSONIsRejected(t *testing.T) {
	t.Parallel()
	e := newAPI(t)
	for body, want := range map[string]string{
		`{"name":`:                  "invalid_json",
		`{"name":"a","extra":1}`:    "invalid_json",
		`{"name":"a"} {"name":"b"}`: "invalid_json",
		``:                          "invalid_json",
		`["a"]`:                     "invalid_json",
		`{"name":"` + strings.Repeat("x", 2<<20) + `"}`: "body_too_large",
	} {
		r := e.do("POST", "/api/v1/customers", adminKey, "application/json", strings.NewReader(body))
		wantStatus := 400
		if want == "body_too_large" {
			wantStatus = 413
		}
		if r.status != wantStatus || r.errorCode(t) != want {
			t.Errorf("body %.40q: %d %s, want %d %s", body, r.status, r.body, wantStatus, want)
		}
	}
}

func TestUploadEndpoint(t *testing.T) {
	t.Parallel()
	e := newAPI(t, func(c *httpapi.Config) { c.MaxUploadBytes = 50_000 })
	id, key := e.customerWithKey("acme")
	base := fmt.Sprintf("/api/v1/customers/%d", id)
	asOf := drift.Date(time.Now())
	body := claimsBody(60, "a", asOf) + "Payer a,99213,2026-01-02,2026-01-01,PAID,\n"

	r := e.expect(e.do("POST", base+"/uploads?filename=jan.csv", key, "text/csv", strings.NewReader(body)), 201, "upload")
	up := r.json(t)
	for _, field := range []string{"id", "filename", "sha256", "rows", "accepted", "rejected", "warnings", "errors", "duplicate_of", "job_id", "job_coalesced"} {
		if _, ok := up[field]; !ok {
			t.Errorf("upload JSON lacks %q: %s", field, r.body)
		}
	}
	if up["accepted"].(float64) != 60 || up["rejected"].(float64) != 1 || up["filename"] != "jan.csv" || r.header.Get("X-Request-ID") == "" {
		t.Fatalf("upload = %s", r.body)
	}
	uploadID := int64(up["id"].(float64))

	r = e.expect(e.do("POST", base+"/uploads?filename=again.csv", key, "text/csv", strings.NewReader(body)), 409, "duplicate")
	details := r.json(t)["error"].(map[string]any)["details"].(map[string]any)
	if int64(details["duplicate_of"].(float64)) != uploadID {
		t.Fatalf("duplicate details = %v, want duplicate_of %d", details, uploadID)
	}
	r = e.expect(e.do("POST", base+"/uploads?filename=bad.csv", key, "text/csv", strings.NewReader("payer,cpt,submitted_date,decided_date,outcome\nA,1,bad,2026-01-01,PAID\n")), 422, "all rows invalid")
	rowErrs := r.json(t)["error"].(map[string]any)["details"].([]any)
	if len(rowErrs) != 1 || rowErrs[0].(map[string]any)["row"].(float64) != 2 || rowErrs[0].(map[string]any)["field"] != "submitted_date" {
		t.Fatalf("row errors in details = %v", rowErrs)
	}
	e.expect(e.do("POST", base+"/uploads?filename=bad.csv", key, "text/csv", strings.NewReader("payer,cpt\nA,1\n")), 422, "missing columns")
	e.expect(e.do("POST", base+"/uploads?filename=big.csv", key, "text/csv", strings.NewReader(claimsBody(2000, "big", asOf))), 413, "too large (Content-Length)")
	// Without a Content-Length (chunked), the limit is enforced while streaming.
	e.expect(e.do("POST", base+"/uploads?filename=big.csv", key, "text/csv", io.MultiReader(strings.NewReader(claimsBody(2000, "big2", asOf)))), 413, "too large (streamed)")
	e.expect(e.do("POST", base+"/uploads", key, "text/csv", strings.NewReader(body)), 400, "no filename")
	e.expect(e.do("POST", base+"/uploads?filename=x.json", key, "application/json", strings.NewReader(`{}`)), 415, "not CSV")

	var uploads, claims int
	if err := e.pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM uploads), (SELECT count(*) FROM claim_records)`).Scan(&uploads, &claims); err != nil {
		t.Fatal(err)
	}
	if uploads != 1 || claims != 60 {
		t.Fatalf("after failed uploads: %d uploads, %d claims stored; want only the first (1, 60)", uploads, claims)
	}

	r = e.expect(e.do("GET", fmt.Sprintf("%s/uploads/%d", base, uploadID), key, "", nil), 200, "get upload")
	if r.json(t)["sha256"] != up["sha256"] {
		t.Fatalf("get upload = %s", r.body)
	}
	e.expect(e.do("GET", base+"/uploads/999999", key, "", nil), 404, "unknown upload")
}

func TestMappingsEndpoints(t *testing.T) {
	t.Parallel()
	e := newAPI(t)
	id, key := e.customerWithKey("acme")
	base := fmt.Sprintf("/api/v1/customers/%d/mappings", id)
	r := e.expect(e.do("PUT", base+"/payers", key, "text/csv", strings.NewReader("raw_name,normalized_name\nAETNA INC,Aetna\n")), 200, "payers")
	if r.json(t)["payers"].(float64) != 1 {
		t.Fatalf("payers = %s", r.body)
	}
	r = e.expect(e.do("PUT", base+"/cpt-groups", key, "text/csv", strings.NewReader("cpt,cpt_group\n99213,E&M\n99214,E&M\n")), 200, "cpt groups")
	if r.json(t)["cpt_groups"].(float64) != 2 {
		t.Fatalf("cpt groups = %s", r.body)
	}
	r = e.expect(e.do("PUT", base+"/cpt-groups", key, "text/csv", strings.NewReader("cpt,cpt_group\n99213,\n")), 422, "invalid mapping")
	if d := r.json(t)["error"].(map[string]any)["details"].([]any); len(d) != 1 {
		t.Fatalf("details = %v", d)
	}
	// Reclassify: claims uploaded under the old groups move to the new ones.
	e.expect(e.do("POST", fmt.Sprintf("/api/v1/customers/%d/uploads?filename=c.csv", id), key, "text/csv", strings.NewReader(claimsBody(30, "x", time.Now()))), 201, "upload")
	e.expect(e.do("PUT", base+"/cpt-groups?reclassify=maybe", key, "text/csv", strings.NewReader("cpt,cpt_group\n99213,Office\n")), 400, "bad reclassify")
	r = e.expect(e.do("PUT", base+"/cpt-groups?reclassify=true", key, "text/csv", strings.NewReader("cpt,cpt_group\n99213,Office\n")), 200, "reclassify")
	if rc := r.json(t)["reclassified"].(map[string]any); rc["cpt_group_claims_moved"].(float64) != 30 || rc["job_id"] == nil {
		t.Fatalf("reclassify = %s, want the 30 claims moved and a drift job", r.body)
	}
	var groups int
	if err := e.pool.QueryRow(context.Background(), `SELECT count(DISTINCT cpt_group) FROM claim_stats WHERE customer_id = $1 AND cpt_group = 'Office'`, id).Scan(&groups); err != nil || groups != 1 {
		t.Fatalf("statistics not rebuilt under the new group (%d, %v)", groups, err)
	}
}

func TestDriftRunsReportRunsAndEvents(t *testing.T) {
	t.Parallel()
	e := newAPI(t)
	id, key := e.customerWithKey("acme")
	base := fmt.Sprintf("/api/v1/customers/%d", id)
	e.expect(e.do("GET", base+"/drift-events", key, "", nil), 404, "no run yet")

	r := e.expect(e.do("POST", base+"/drift-runs", key, "application/json", strings.NewReader(`{"as_of":"2026-11-23","min_volume":5}`)), 202, "drift run")
	jobID := int64(r.json(t)["job_id"].(float64))
	var args string
	if err := e.pool.QueryRow(context.Background(), `SELECT args::text FROM river_job WHERE id = $1`, jobID).Scan(&args); err != nil || !strings.Contains(args, `"min_volume": 5`) {
		t.Fatalf("job args = %s (%v)", args, err)
	}
	e.expect(e.do("POST", base+"/drift-runs", key, "application/json", strings.NewReader(`{"as_of":"23/11/2026"}`)), 422, "bad date")
	e.expect(e.do("POST", base+"/drift-runs", key, "application/json", strings.NewReader(`{"min_volume":0}`)), 422, "bad params")
	for _, body := range []string{`{"fdr":0}`, `{"fdr":1}`, `{"fdr":-0.1}`, `{"baseline_days":4294967297}`, `{"current_days":100000}`, `{"as_of":"0001-01-01"}`} {
		e.expect(e.do("POST", base+"/drift-runs", key, "application/json", strings.NewReader(body)), 422, "out of range: "+body)
	}
	r = e.expect(e.do("POST", base+"/drift-runs", key, "application/json", strings.NewReader(`{"fdr":0.1}`)), 202, "fdr 0.1")
	if err := e.pool.QueryRow(context.Background(), `SELECT args::text FROM river_job WHERE id = $1`, int64(r.json(t)["job_id"].(float64))).Scan(&args); err != nil || !strings.Contains(args, `"fdr": 0.1`) {
		t.Fatalf("job args = %s (%v), want fdr 0.1", args, err)
	}
	e.expect(e.do("POST", base+"/drift-runs", key, "application/json", strings.NewReader(`{"minvolume":3}`)), 400, "unknown field")

	// Seed runs directly: an older successful one, the latest successful
	// one with two events, and a failed one.
	older := testfactory.ReportRun(t, e.pool, id, &testfactory.RunOpts{ClaimsRead: 100})
	latest := testfactory.ReportRun(t, e.pool, id, &testfactory.RunOpts{ClaimsRead: 101},
		drift.Event{Payer: "Aetna", CPTGroup: "E&M", Type: drift.TypeDenialRate, BaselineValue: 0.1, CurrentValue: 0.5, Severity: 0.8, Confidence: 1, BaselineSampleSize: 40, CurrentSampleSize: 40},
		drift.Event{Payer: "Cigna", CPTGroup: "E&M", Type: drift.TypeDecisionTime, BaselineValue: 0.1, CurrentValue: 0.5, Severity: 0.3, Confidence: 1, BaselineSampleSize: 40, CurrentSampleSize: 40,
			Alert: true, Evidence: &drift.Evidence{Method: drift.MethodDecisionTime, P: 0.001, Q: 0.002}})
	failed := testfactory.ReportRun(t, e.pool, id, &testfactory.RunOpts{Status: drift.RunFailed, Error: "boom", ClaimsRead: 102})
	runIDs := []int64{older.ID, latest.ID, failed.ID}

	r = e.expect(e.do("GET", base+"/report-runs?limit=2", key, "", nil), 200, "list runs")
	list := r.json(t)
	runs := list["report_runs"].([]any)
	if len(runs) != 2 || int64(runs[0].(map[string]any)["id"].(float64)) != runIDs[2] || list["next_before"] == nil {
		t.Fatalf("first page = %s", r.body)
	}
	summary := runs[1].(map[string]any)["summary"].(map[string]any)
	for _, f := range []string{"baseline_start", "baseline_end", "current_start", "current_end", "groups_considered", "events_created", "claims_read", "duration_ms"} {
		if _, ok := summary[f]; !ok {
			t.Errorf("summary lacks %q", f)
		}
	}
	r = e.expect(e.do("GET", fmt.Sprintf("%s/report-runs?limit=2&before=%d", base, int64(list["next_before"].(float64))), key, "", nil), 200, "second page")
	if runs := r.json(t)["report_runs"].([]any); len(runs) != 1 || int64(runs[0].(map[string]any)["id"].(float64)) != runIDs[0] {
		t.Fatalf("second page = %s", r.body)
	}
	e.expect(e.do("GET", base+"/report-runs?limit=0", key, "", nil), 400, "bad limit")

	r = e.expect(e.do("GET", fmt.Sprintf("%s/report-runs/%d", base, runIDs[1]), key, "", nil), 200, "one run")
	one := r.json(t)
	if len(one["events"].([]any)) != 2 || one["report_run"].(map[string]any)["status"] != "success" {
		t.Fatalf("run = %s", r.body)
	}
	r = e.expect(e.do("GET", fmt.Sprintf("%s/report-runs/%d?format=csv", base, runIDs[1]), key, "", nil), 200, "run as CSV")
	if !strings.HasPrefix(r.header.Get("Content-Type"), "text/csv") || strings.Count(string(r.body), "\n") != 3 || !strings.Contains(string(r.body), "Aetna,E&M,DENIAL_RATE") {
		t.Fatalf("CSV = %s", r.body)
	}
	r = e.expect(e.do("GET", fmt.Sprintf("%s/report-runs/%d", base, runIDs[1]), key, "", nil, "Accept", "text/csv"), 200, "run via Accept")
	if !strings.HasPrefix(r.header.Get("Content-Type"), "text/csv") {
		t.Fatalf("Accept: text/csv gave %s", r.header.Get("Content-Type"))
	}
	e.expect(e.do("GET", base+"/report-runs/999999", key, "", nil), 404, "unknown run")

	// Latest successful run (the second), filtered.
	for query, want := range map[string]int{"": 2, "?payer=aetna": 1, "?drift_type=DECISION_TIME": 1, "?min_severity=0.5": 1, "?min_severity=0.9": 0,
		"?alert=true": 1, "?alert=false": 1, "?alert=true&payer=aetna": 0} {
		r = e.expect(e.do("GET", base+"/drift-events"+query, key, "", nil), 200, "drift events "+query)
		got := r.json(t)
		if len(got["events"].([]any)) != want || int64(got["report_run"].(map[string]any)["id"].(float64)) != runIDs[1] {
			t.Errorf("drift-events%s: %s, want %d events of run %d", query, r.body, want, runIDs[1])
		}
	}
	e.expect(e.do("GET", base+"/drift-events?drift_type=FOO", key, "", nil), 400, "bad drift type")
	e.expect(e.do("GET", base+"/drift-events?min_severity=x", key, "", nil), 400, "bad severity")
	e.expect(e.do("GET", base+"/drift-events?min_severity=NaN", key, "", nil), 400, "NaN severity")
	e.expect(e.do("GET", base+"/drift-events?alert=maybe", key, "", nil), 400, "bad alert filter")
	r = e.expect(e.do("GET", fmt.Sprintf("%s/report-runs/%d?alert=true", base, runIDs[1]), key, "", nil), 200, "run alerts")
	if evs := r.json(t)["events"].([]any); len(evs) != 1 || evs[0].(map[string]any)["alert"] != true || evs[0].(map[string]any)["q_value"] != 0.002 {
		t.Errorf("run %d ?alert=true: %s, want the one alert with its q-value", runIDs[1], r.body)
	}
}

// Every path of another customer answers 404, exactly like a missing one;
// without a valid key, 401.
func TestCrossTenantRequestsAre404AndMissingKeys401(t *testing.T) {
	t.Parallel()
	e := newAPI(t)
	acme, acmeKey := e.customerWithKey("acme")
	globex, _ := e.customerWithKey("globex")
	var runID, uploadID int64
	runID = testfactory.ReportRun(t, e.pool, globex, nil).ID
	var webhookID int64
	if err := e.pool.QueryRow(context.Background(), `INSERT INTO webhook_endpoints (customer_id, url, secret) VALUES ($1, 'https://example.com/', 'whsec_AAAA') RETURNING id`, globex).Scan(&webhookID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.pool.Exec(context.Background(), `INSERT INTO alert_subjects (customer_id, payer, cpt_group, drift_type, updated_by) VALUES ($1, 'Aetna', 'E&M', 'DENIAL_RATE', 'system')`, globex); err != nil {
		t.Fatal(err)
	}
	if err := e.pool.QueryRow(context.Background(), `INSERT INTO uploads (customer_id, filename) VALUES ($1, 'g.csv') RETURNING id`, globex).Scan(&uploadID); err != nil {
		t.Fatal(err)
	}
	paths := []struct{ method, path, ct, body string }{
		{"PUT", "/mappings/cpt-groups", "text/csv", "cpt,cpt_group\n1,A\n"},
		{"PUT", "/mappings/payers", "text/csv", "raw_name,normalized_name\na,A\n"},
		{"POST", "/uploads?filename=x.csv", "text/csv", claimsBody(5, "x", time.Now())},
		{"GET", fmt.Sprintf("/uploads/%d", uploadID), "", ""},
		{"POST", "/drift-runs", "application/json", `{}`},
		{"GET", "/report-runs", "", ""},
		{"GET", fmt.Sprintf("/report-runs/%d", runID), "", ""},
		{"GET", "/drift-events", "", ""},
		{"POST", "/api-keys", "", ""},
		{"POST", "/webhooks", "application/json", `{"url":"https://example.com/"}`},
		{"GET", "/webhooks", "", ""},
		{"DELETE", fmt.Sprintf("/webhooks/%d", webhookID), "", ""},
		{"POST", fmt.Sprintf("/webhooks/%d/rotate", webhookID), "", ""},
		{"POST", fmt.Sprintf("/webhooks/%d/disable", webhookID), "", ""},
		{"POST", fmt.Sprintf("/webhooks/%d/test", webhookID), "", ""},
		{"GET", fmt.Sprintf("/webhooks/%d/deliveries", webhookID), "", ""},
		{"GET", "/alerts", "", ""},
		{"GET", "/alerts/history?payer=Aetna&cpt_group=E%26M&drift_type=DENIAL_RATE", "", ""},
		{"GET", "/subjects/Aetna/E%26M/claims", "", ""},
		{"POST", "/alerts/ack", "application/json", `{"payer":"Aetna","cpt_group":"E&M","drift_type":"DENIAL_RATE"}`},
		{"POST", "/alerts/resolve", "application/json", `{"payer":"Aetna","cpt_group":"E&M","drift_type":"DENIAL_RATE"}`},
	}
	for _, p := range paths {
		for _, target := range []int64{globex, 987654} {
			r := e.do(p.method, fmt.Sprintf("/api/v1/customers/%d%s", target, p.path), acmeKey, p.ct, strings.NewReader(p.body))
			if r.status != 404 {
				t.Errorf("acme's key on %s customer %d%s: %d, want 404: %s", p.method, target, p.path, r.status, r.body)
			}
		}
		for _, key := range []string{"", "upk_not-a-real-key", "garbage"} {
			r := e.do(p.method, fmt.Sprintf("/api/v1/customers/%d%s", acme, p.path), key, p.ct, strings.NewReader(p.body))
			if r.status != 401 {
				t.Errorf("key %q on %s%s: %d, want 401", key, p.method, p.path, r.status)
			}
		}
	}
	var globexUploads, globexWebhooks int
	var globexSubject string
	if err := e.pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM uploads WHERE customer_id = $1),
		(SELECT count(*) FROM webhook_endpoints WHERE customer_id = $1 AND enabled AND secret = 'whsec_AAAA'),
		(SELECT state FROM alert_subjects WHERE customer_id = $1)`, globex).Scan(&globexUploads, &globexWebhooks, &globexSubject); err != nil ||
		globexUploads != 1 || globexWebhooks != 1 || globexSubject != "open" {
		t.Fatalf("globex has %d uploads, %d untouched endpoints, subject %s after acme's attempts (%v); want 1, 1, open", globexUploads, globexWebhooks, globexSubject, err)
	}
	// The admin key sees every customer.
	e.expect(e.do("GET", fmt.Sprintf("/api/v1/customers/%d/report-runs", globex), adminKey, "", nil), 200, "admin on globex")
}

func TestHealthReadinessMetricsAndRiverUI(t *testing.T) {
	t.Parallel()
	e := newAPI(t)
	e.expect(e.do("GET", "/healthz", "", "", nil), 200, "healthz")
	e.expect(e.do("GET", "/readyz", "", "", nil), 200, "readyz")
	r := e.expect(e.do("GET", "/metrics", "", "", nil), 200, "metrics")
	if !strings.Contains(string(r.body), "go_goroutines") {
		t.Fatalf("metrics lack the Go collector")
	}
	e.expect(e.do("GET", "/riverui/", "", "", nil), 401, "River UI without key")
	e.expect(e.do("GET", "/riverui/", adminKey, "", nil), 200, "River UI with admin key")
	// A browser's basic-auth credentials do not make a cross-site form post
	// a River UI action; a Bearer token, or the same origin, does.
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:"+adminKey))
	action := "/riverui/api/jobs/retry"
	for name, headers := range map[string][]string{
		"cross-site text/plain form":  {"Authorization", basic, "Sec-Fetch-Site", "cross-site", "Content-Type", "text/plain"},
		"same-site other subdomain":   {"Authorization", basic, "Sec-Fetch-Site", "same-site"},
		"old browser, foreign origin": {"Authorization", basic, "Origin", "https://evil.example"},
	} {
		if r := e.do("POST", action, "", "", strings.NewReader(`{"job_ids":[1]}`), headers...); r.status != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", name, r.status)
		}
	}
	for name, headers := range map[string][]string{
		"same origin": {"Authorization", basic, "Sec-Fetch-Site", "same-origin", "Content-Type", "application/json"},
		"bearer":      {"Authorization", "bearer " + adminKey, "Sec-Fetch-Site", "cross-site", "Content-Type", "application/json"},
	} {
		if r := e.do("POST", action, "", "", strings.NewReader(`{"job_ids":[1]}`), headers...); r.status == http.StatusForbidden || r.status == http.StatusUnauthorized {
			t.Errorf("%s: %d, want River UI to handle it", name, r.status)
		}
	}
	r = e.do("GET", "/healthz", "", "", nil, "X-Request-ID", "abc-123")
	if r.header.Get("X-Request-ID") != "abc-123" {
		t.Fatalf("request ID not echoed: %q", r.header.Get("X-Request-ID"))
	}
	// Readiness fails when the database is gone.
	e.pool.Close()
	e.expect(e.do("GET", "/readyz", "", "", nil), 503, "readyz without database")
}
