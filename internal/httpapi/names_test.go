package httpapi_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/upstream-rcm/upstream/internal/testfactory"
)

// Payer and CPT group names match whatever their case in the trend and
// alert actions; an unknown name is a 404 that suggests the close one.
func TestTrendAndAlertNamesMatchCaseInsensitively(t *testing.T) {
	t.Parallel()
	e := newAPI(t)
	acme, key := e.customerWithKey("acme")
	asOf := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	testfactory.Upload(t, testfactory.Uploader(t, e.pool), acme,
		testfactory.Claim{Payer: "Aetna", CPT: "99213", Submitted: asOf.AddDate(0, 0, -20), DecisionDays: 5})
	if _, err := e.pool.Exec(context.Background(), `INSERT INTO alert_subjects (customer_id, payer, cpt_group, drift_type, updated_by)
		VALUES ($1, 'Aetna', 'E&M', 'DENIAL_RATE', 'system')`, acme); err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("/api/v1/customers/%d", acme)
	trend := func(payer, group string) response {
		return e.do("GET", base+"/trend?as_of=2026-11-23&payer="+url.QueryEscape(payer)+"&cpt_group="+url.QueryEscape(group), key, "", nil)
	}
	if r := e.expect(trend("aetna", "other"), 200, "lower-case names"); !strings.Contains(string(r.body), `"payer": "Aetna"`) || !strings.Contains(string(r.body), `"volume": 1,`) {
		t.Fatalf("trend of aetna/other = %s, want Aetna's one claim", r.body)
	}
	if r := e.expect(trend("Aetan", "OTHER"), 404, "a typo"); !strings.Contains(string(r.body), `did you mean \"Aetna\"`) {
		t.Fatalf("trend of a typo: %s", r.body)
	}
	e.expect(trend("Aetna", "Imaging"), 404, "a group the payer has no claims in")

	ack := func(payer, group string) response {
		return e.do("POST", base+"/alerts/ack", key, "application/json",
			strings.NewReader(fmt.Sprintf(`{"payer":%q,"cpt_group":%q,"drift_type":"DENIAL_RATE"}`, payer, group)))
	}
	if r := e.expect(ack("AETNA", "e&m"), 200, "ack in other case"); !strings.Contains(string(r.body), `"state": "acknowledged"`) {
		t.Fatalf("ack = %s", r.body)
	}
	if r := e.expect(ack("aetan", "E&M"), 404, "ack of a typo"); !strings.Contains(string(r.body), "no alerts for payer") || !strings.Contains(string(r.body), "Aetna") {
		t.Fatalf("ack of a typo: %s", r.body)
	}
}
