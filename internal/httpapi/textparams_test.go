package httpapi_test

import (
	"fmt"
	"strings"
	"testing"
)

// NUL bytes and invalid UTF-8 in any text parameter are a 400 or 422
// naming the parameter, never a 500 from the database.
func TestHostileTextParametersAreClientErrors(t *testing.T) {
	t.Parallel()
	e := newAPI(t)
	acme, key := e.customerWithKey("acme")
	base := fmt.Sprintf("/api/v1/customers/%d", acme)
	ack := func(body string) request {
		return request{"POST", base + "/alerts/ack", key, "application/json", body}
	}
	for _, tc := range []struct {
		req    request
		status int
		names  string
	}{
		{request{"GET", base + "/trend?payer=%00&cpt_group=E", key, "", ""}, 400, "payer"},
		{request{"GET", base + "/trend?payer=%FF%FE&cpt_group=E", key, "", ""}, 400, "payer"},
		{request{"GET", base + "/trend?payer=A&cpt_group=E%00", key, "", ""}, 400, "cpt_group"},
		{ack(`{"payer":"a\u0000b","cpt_group":"E","drift_type":"DENIAL_RATE"}`), 422, "payer"},
		{ack(`{"payer":"a","cpt_group":"E","drift_type":"DENIAL_RATE","note":"x\u0000"}`), 422, "note"},
		{request{"POST", base + "/uploads?filename=%00bad.csv", key, "text/csv", "payer\n"}, 400, "filename"},
		{request{"GET", fmt.Sprintf("/customers/%d?trend_payer=%%00&trend_group=E", acme), "", "", ""}, 400, "trend_payer"},
		{request{"POST", fmt.Sprintf("/customers/%d/alerts/ack", acme), "", "application/x-www-form-urlencoded", "payer=a%00b&cpt_group=E"}, 400, "payer"},
		{request{"POST", "/api/v1/customers", adminKey, "application/json", `{"name":"x\u0000y"}`}, 422, "name"},
		{request{"GET", base + "/drift-events?payer=%C0%AF", key, "", ""}, 400, "payer"},
	} {
		r := e.do(tc.req.method, tc.req.path, tc.req.key, tc.req.ct, strings.NewReader(tc.req.body))
		if r.status != tc.status || !strings.Contains(string(r.body), tc.names) {
			t.Errorf("%s %s: %d %s; want %d naming %s", tc.req.method, tc.req.path, r.status, r.body, tc.status, tc.names)
		}
	}
}

type request struct{ method, path, key, ct, body string }
