package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/upstream-rcm/upstream/internal/httpapi"
	"github.com/upstream-rcm/upstream/internal/webhooks"
)

func TestWebhookEndpointsAPI(t *testing.T) {
	t.Parallel()
	e := newAPI(t, func(c *httpapi.Config) { c.WebhookGuard = webhooks.Guard{AllowPrivate: true} })
	strict := newAPI(t) // the default: private destinations refused
	id, key := e.customerWithKey("acme")
	base := fmt.Sprintf("/api/v1/customers/%d/webhooks", id)
	json := "application/json"
	receiver := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer receiver.Close()

	r := e.expect(e.do("POST", base, key, json, strings.NewReader(`{"url":"`+receiver.URL+`","format":"slack","min_severity":0.2}`)), 201, "create")
	created := r.json(t)
	secret, _ := created["secret"].(string)
	if !strings.HasPrefix(secret, "whsec_") || created["format"] != "slack" || created["min_severity"] != 0.2 {
		t.Fatalf("created = %s", r.body)
	}
	wid := int64(created["id"].(float64))
	r = e.expect(e.do("GET", base, key, "", nil), 200, "list")
	if strings.Contains(string(r.body), secret) || !strings.Contains(string(r.body), receiver.URL) {
		t.Fatalf("list shows the secret or lacks the endpoint: %s", r.body)
	}
	for body, what := range map[string]string{
		`{"url":"ftp://example.com/"}`:                    "scheme",
		`{"url":"https://u:p@example.com/"}`:              "credentials",
		`{"url":"https://example.com/","format":"x"}`:     "format",
		`{"url":"https://example.com/","min_severity":2}`: "severity",
	} {
		e.expect(e.do("POST", base, key, json, strings.NewReader(body)), 422, what)
	}
	sid, skey := strict.customerWithKey("acme")
	for _, url := range []string{"http://127.0.0.1:9/x", "http://169.254.169.254/latest/meta-data/", "http://localhost/x", "http://[::1]/"} {
		r := strict.expect(strict.do("POST", fmt.Sprintf("/api/v1/customers/%d/webhooks", sid), skey, json, strings.NewReader(`{"url":"`+url+`"}`)), 422, "SSRF "+url)
		if !strings.Contains(string(r.body), "private") {
			t.Errorf("refusal of %s does not say why: %s", url, r.body)
		}
	}

	r = e.expect(e.do("POST", fmt.Sprintf("%s/%d/rotate", base, wid), key, "", nil), 200, "rotate")
	if rotated := r.json(t)["webhook"].(map[string]any)["secret"]; rotated == secret || !strings.HasPrefix(rotated.(string), "whsec_") {
		t.Fatalf("rotate gave %v", rotated)
	}
	if r.json(t)["previous_secret_valid_until"] == nil {
		t.Fatalf("rotation does not say how long the old secret stays valid: %s", r.body)
	}
	r = e.expect(e.do("POST", fmt.Sprintf("%s/%d/test", base, wid), key, "", nil), 202, "test delivery")
	if r.json(t)["delivery_id"] == nil || r.json(t)["job_id"] == nil {
		t.Fatalf("test = %s", r.body)
	}
	r = e.expect(e.do("GET", fmt.Sprintf("%s/%d/deliveries", base, wid), key, "", nil), 200, "deliveries")
	if ds := r.json(t)["deliveries"].([]any); len(ds) != 1 || ds[0].(map[string]any)["status"] != "pending" {
		t.Fatalf("deliveries = %s", r.body)
	}
	e.expect(e.do("GET", fmt.Sprintf("%s/%d/deliveries?limit=100000", base, wid), key, "", nil), 400, "limit")
	r = e.expect(e.do("POST", fmt.Sprintf("%s/%d/disable", base, wid), key, "", nil), 200, "disable")
	if r.json(t)["enabled"] != false {
		t.Fatalf("disable = %s", r.body)
	}
	e.expect(e.do("POST", fmt.Sprintf("%s/%d/enable", base, wid), key, "", nil), 200, "enable")
	e.expect(e.do("DELETE", fmt.Sprintf("%s/%d", base, wid), key, "", nil), 204, "delete")
	e.expect(e.do("DELETE", fmt.Sprintf("%s/%d", base, wid), key, "", nil), 404, "delete again")
	e.expect(e.do("POST", fmt.Sprintf("%s/x/rotate", base), key, "", nil), 404, "bad id")
}

func TestAlertLifecycleAPI(t *testing.T) {
	t.Parallel()
	e := newAPI(t)
	id, key := e.customerWithKey("acme")
	base := fmt.Sprintf("/api/v1/customers/%d/alerts", id)
	json := "application/json"
	subject := `"payer":"Aetna","cpt_group":"E&M","drift_type":"DENIAL_RATE"`
	e.expect(e.do("POST", base+"/ack", key, json, strings.NewReader(`{`+subject+`}`)), 404, "ack before any alert")
	if _, err := e.pool.Exec(context.Background(), `INSERT INTO alert_subjects (customer_id, payer, cpt_group, drift_type, updated_by) VALUES ($1, 'Aetna', 'E&M', 'DENIAL_RATE', 'system')`, id); err != nil {
		t.Fatal(err)
	}
	r := e.expect(e.do("POST", base+"/ack", key, json, strings.NewReader(`{`+subject+`,"note":"called the payer"}`)), 200, "ack")
	if got := r.json(t); got["state"] != "acknowledged" || got["note"] != "called the payer" || !strings.HasPrefix(got["updated_by"].(string), "upk_") {
		t.Fatalf("ack = %s, want acknowledged by the key's prefix", r.body)
	}
	e.expect(e.do("POST", base+"/snooze", key, json, strings.NewReader(`{`+subject+`}`)), 422, "snooze without a date")
	e.expect(e.do("POST", base+"/snooze", key, json, strings.NewReader(`{`+subject+`,"until":"2001-01-01"}`)), 422, "snooze into the past")
	e.expect(e.do("POST", base+"/snooze", key, json, strings.NewReader(`{`+subject+`,"until":"tomorrow"}`)), 422, "snooze bad date")
	e.expect(e.do("POST", base+"/resolve", key, json, strings.NewReader(`{"payer":"Aetna","cpt_group":"E&M","drift_type":"NOPE"}`)), 422, "bad type")
	e.expect(e.do("POST", base+"/resolve", adminKey, json, strings.NewReader(`{`+subject+`,"note":"`+strings.Repeat("x", 3000)+`"}`)), 422, "long note")
	r = e.expect(e.do("POST", base+"/resolve", adminKey, json, strings.NewReader(`{`+subject+`}`)), 200, "resolve")
	if r.json(t)["state"] != "resolved" || r.json(t)["updated_by"] != "admin" {
		t.Fatalf("resolve = %s", r.body)
	}
	r = e.expect(e.do("GET", base, key, "", nil), 200, "list")
	if as := r.json(t)["alerts"].([]any); len(as) != 1 || as[0].(map[string]any)["state"] != "resolved" {
		t.Fatalf("alerts = %s", r.body)
	}
	var changes int
	if err := e.pool.QueryRow(context.Background(), `SELECT count(*) FROM alert_subject_changes WHERE customer_id = $1`, id).Scan(&changes); err != nil || changes != 2 {
		t.Fatalf("%d changes recorded (%v), want 2", changes, err)
	}
}

func TestUploadListAndDeleteAPI(t *testing.T) {
	t.Parallel()
	e := newAPI(t)
	id, key := e.customerWithKey("acme")
	_, otherKey := e.customerWithKey("globex")
	base := fmt.Sprintf("/api/v1/customers/%d/uploads", id)
	var ids []int64
	for _, salt := range []string{"a", "b", "c"} {
		r := e.expect(e.do("POST", base+"?filename="+salt+".csv", key, "text/csv", strings.NewReader(claimsBody(20, salt, time.Now()))), 201, "upload")
		ids = append(ids, int64(r.json(t)["id"].(float64)))
	}
	r := e.expect(e.do("GET", base+"?limit=2", key, "", nil), 200, "list")
	page := r.json(t)
	if ups := page["uploads"].([]any); len(ups) != 2 || int64(ups[0].(map[string]any)["id"].(float64)) != ids[2] || page["next_before"] == nil {
		t.Fatalf("first page = %s", r.body)
	}
	r = e.expect(e.do("GET", fmt.Sprintf("%s?before=%d", base, int64(page["next_before"].(float64))), key, "", nil), 200, "second page")
	if ups := r.json(t)["uploads"].([]any); len(ups) != 1 || int64(ups[0].(map[string]any)["id"].(float64)) != ids[0] {
		t.Fatalf("second page = %s", r.body)
	}
	e.expect(e.do("GET", base+"?limit=0", key, "", nil), 400, "bad limit")
	e.expect(e.do("DELETE", fmt.Sprintf("%s/%d", base, ids[1]), otherKey, "", nil), 404, "another customer's key")
	r = e.expect(e.do("DELETE", fmt.Sprintf("%s/%d", base, ids[1]), key, "", nil), 200, "delete")
	if r.json(t)["job_id"] == nil {
		t.Fatalf("delete = %s, want the drift job", r.body)
	}
	e.expect(e.do("DELETE", fmt.Sprintf("%s/%d", base, ids[1]), key, "", nil), 404, "deleted twice")
	e.expect(e.do("GET", fmt.Sprintf("%s/%d", base, ids[1]), key, "", nil), 404, "deleted upload")
	r = e.expect(e.do("GET", "/api/v1/customers", adminKey, "", nil), 200, "customers")
	if cs := r.json(t)["customers"].([]any); len(cs) != 2 {
		t.Fatalf("customers = %s", r.body)
	}
	e.expect(e.do("GET", "/api/v1/customers", key, "", nil), 403, "customer key listing customers")
}

func TestUploadGuardsAPI(t *testing.T) {
	t.Parallel()
	e := newAPI(t)
	id, key := e.customerWithKey("acme")
	base := fmt.Sprintf("/api/v1/customers/%d/uploads", id)
	ddmm := "payer,cpt,submitted_date,decided_date,outcome\nA,1,23/04/2026,25/04/2026,PAID\nA,1,03/04/2026,05/04/2026,PAID\n"
	r := e.expect(e.do("POST", base+"?filename=d.csv", key, "text/csv", strings.NewReader(ddmm)), 422, "DD/MM refused")
	if r.json(t)["error"].(map[string]any)["code"] != "date_order" {
		t.Fatalf("DD/MM = %s", r.body)
	}
	e.expect(e.do("POST", base+"?filename=d.csv&date_format=DD%2FMM%2FYYYY", key, "text/csv", strings.NewReader(ddmm)), 201, "DD/MM with its format")
	e.expect(e.do("POST", base+"?filename=d.csv&date_format=nope", key, "text/csv", strings.NewReader(ddmm)), 400, "bad format")
	bad := "payer,cpt,submitted_date,decided_date,outcome\nA,1,x,2026-01-01,PAID\nA,1,y,2026-01-01,PAID\nA,1,2026-01-01,2026-01-02,PAID\n"
	r = e.expect(e.do("POST", base+"?filename=b.csv", key, "text/csv", strings.NewReader(bad)), 422, "mostly rejected")
	if d := r.json(t)["error"].(map[string]any)["details"].([]any); len(d) != 2 {
		t.Fatalf("mostly rejected = %s, want both row errors", r.body)
	}
	e.expect(e.do("POST", base+"?filename=b.csv&allow_rejects=true", key, "text/csv", strings.NewReader(bad)), 201, "allowed")
	e.expect(e.do("POST", base+"?filename=b.csv&allow_rejects=yes-please", key, "text/csv", strings.NewReader(bad)), 400, "bad allow_rejects")
}

func TestTrendAPI(t *testing.T) {
	t.Parallel()
	e := newAPI(t)
	id, key := e.customerWithKey("acme")
	base := fmt.Sprintf("/api/v1/customers/%d/trend", id)
	e.expect(e.do("POST", fmt.Sprintf("/api/v1/customers/%d/uploads?filename=a.csv", id), key, "text/csv", strings.NewReader(claimsBody(50, "x", time.Now()))), 201, "upload")
	r := e.expect(e.do("GET", base+"?payer=Payer%20x&cpt_group=OTHER&weeks=8", key, "", nil), 200, "trend")
	weeks := r.json(t)["weeks"].([]any)
	total := 0.0
	for _, w := range weeks {
		total += w.(map[string]any)["volume"].(float64)
	}
	if len(weeks) != 8 || total == 0 {
		t.Fatalf("trend = %s", r.body)
	}
	e.expect(e.do("GET", base+"?payer=x", key, "", nil), 400, "no group")
	e.expect(e.do("GET", base+"?payer=x&cpt_group=y&weeks=1000", key, "", nil), 400, "too many weeks")
	e.expect(e.do("GET", base+"?payer=x&cpt_group=y&as_of=yesterday", key, "", nil), 400, "bad as_of")
}

// Small HTTP manners: wrong methods are 405 with Allow, media types and the
// Bearer scheme are case-insensitive.
func TestMethodsMediaTypesAndSchemes(t *testing.T) {
	t.Parallel()
	e := newAPI(t)
	id, key := e.customerWithKey("acme")
	r := e.expect(e.do("PATCH", fmt.Sprintf("/api/v1/customers/%d/uploads", id), key, "", nil), 405, "PATCH uploads")
	if allow := r.header.Get("Allow"); !strings.Contains(allow, "GET") || !strings.Contains(allow, "POST") {
		t.Fatalf("Allow = %q", allow)
	}
	e.expect(e.do("GET", "/api/v1/nothing-here", key, "", nil), 404, "unknown path")
	e.expect(e.do("POST", fmt.Sprintf("/api/v1/customers/%d/uploads?filename=a.csv", id), key, "TEXT/CSV; charset=UTF-8",
		strings.NewReader(claimsBody(5, "x", time.Now()))), 201, "upper-case media type")
	e.expect(e.do("POST", fmt.Sprintf("/api/v1/customers/%d/uploads?filename=b.csv", id), key, "application/json", strings.NewReader("{}")), 415, "JSON upload")
	req := e.do("GET", fmt.Sprintf("/api/v1/customers/%d/report-runs", id), "", "", nil, "Authorization", "BEARER "+key)
	if req.status != 200 {
		t.Fatalf("upper-case scheme: %d", req.status)
	}
}

func TestAPIKeysListAndRevoke(t *testing.T) {
	t.Parallel()
	e := newAPI(t)
	id, key := e.customerWithKey("acme")
	base := fmt.Sprintf("/api/v1/customers/%d/api-keys", id)
	r := e.expect(e.do("GET", base, adminKey, "", nil), 200, "list")
	keys := r.json(t)["api_keys"].([]any)
	prefix := keys[0].(map[string]any)["prefix"].(string)
	if len(keys) != 1 || !strings.HasPrefix(key, prefix) || strings.Contains(string(r.body), key) {
		t.Fatalf("keys = %s, want the key's prefix only", r.body)
	}
	e.expect(e.do("GET", base, key, "", nil), 403, "a customer key listing keys")
	e.expect(e.do("GET", fmt.Sprintf("/api/v1/customers/%d/report-runs", id), key, "", nil), 200, "key works")
	e.expect(e.do("DELETE", base+"/"+prefix, adminKey, "", nil), 204, "revoke")
	e.expect(e.do("GET", fmt.Sprintf("/api/v1/customers/%d/report-runs", id), key, "", nil), 401, "revoked key")
	e.expect(e.do("DELETE", base+"/"+prefix, adminKey, "", nil), 404, "revoke again")
	r = e.expect(e.do("GET", base, adminKey, "", nil), 200, "list after")
	if r.json(t)["api_keys"].([]any)[0].(map[string]any)["revoked_at"] == nil {
		t.Fatalf("keys = %s, want it marked revoked", r.body)
	}
}
