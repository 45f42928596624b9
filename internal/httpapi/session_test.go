package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/upstream-rcm/upstream/internal/httpapi"
	"github.com/upstream-rcm/upstream/internal/testfactory"
)

// Rotating the admin key ends the page sessions opened with the old one,
// as revoking a customer key ends that key's sessions; sessions opened
// with the new key work.
func TestAdminSessionsEndWhenTheAdminKeyRotates(t *testing.T) {
	t.Parallel()
	e := newAPI(t)
	testfactory.Customer(t, e.pool, "acme")
	c := newPageClient(t, e.url)
	if status, _, _ := c.post("/login", url.Values{"key": {adminKey}}); status != http.StatusSeeOther {
		t.Fatalf("admin login = %d", status)
	}
	if status, _, body := c.get("/"); status != http.StatusOK || !strings.Contains(body, "acme") {
		t.Fatalf("admin page before the rotation = %d", status)
	}

	// serve restarts with a new key, on the same database (and sessions).
	const newKey = "rotated-admin-key-0123456789abcdef"
	srv, err := httpapi.New(httpapi.Config{Pool: e.pool, River: testfactory.InsertOnlyClient(t, e.pool), AdminKey: newKey, Keyring: testfactory.Keyring(t)})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	c.base = ts.URL
	jarURL, _ := url.Parse(e.url)
	newURL, _ := url.Parse(ts.URL)
	c.client.Jar.SetCookies(newURL, c.client.Jar.Cookies(jarURL)) // the same browser, same cookie
	if status, h, body := c.get("/"); status != http.StatusSeeOther || h.Get("Location") != "/login" || strings.Contains(body, "acme") {
		t.Fatalf("old admin session after the rotation = %d (Location %q), want sent to log in", status, h.Get("Location"))
	}
	if status, _, _ := c.get("/"); status != http.StatusSeeOther {
		t.Fatalf("the ended session came back: %d", status)
	}
	if status, _, _ := c.post("/login", url.Values{"key": {newKey}}); status != http.StatusSeeOther {
		t.Fatalf("login with the new key = %d", status)
	}
	if status, _, body := c.get("/"); status != http.StatusOK || !strings.Contains(body, "acme") {
		t.Fatalf("admin page with the new key's session = %d", status)
	}
}
