package httpapi

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strconv"

	"context"
	"encoding/base64"
	"time"

	"github.com/alexedwards/scs/postgresstore"
	"github.com/alexedwards/scs/v2"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/upstream-rcm/upstream/internal/customers"
	"github.com/upstream-rcm/upstream/internal/db"
	"github.com/upstream-rcm/upstream/internal/drift"
	"github.com/upstream-rcm/upstream/internal/store"
)

//go:embed templates/*.html
var templateFS embed.FS

var pageTemplates = template.Must(template.New("").Funcs(template.FuncMap{
	"value":    drift.FormatValue,
	"delta":    drift.FormatDelta,
	"num":      func(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) },
	"driver":   drift.FormatDriver,
	"lateCode": drift.FormatLateCode,
	"lateWeek": drift.FormatLateWeek,
	"pct":      func(v float64) string { return strconv.FormatFloat(100*v, 'f', 0, 64) + "%" },
	// subjectForm is what an alert's action forms carry.
	"subjectForm": func(row eventRow, csrf string, run int64) map[string]any {
		return map[string]any{"CSRF": csrf, "Payer": row.Payer, "CPTGroup": row.CPTGroup, "DriftType": row.DriftType, "Run": run}
	},
	"q": func(q *float64) string {
		if q == nil {
			return "-"
		}
		return strconv.FormatFloat(*q, 'g', 2, 64)
	},
}).ParseFS(templateFS, "templates/*.html"))

// viewer is who a page session belongs to: the admin, or one customer.
type viewer struct {
	admin      bool
	customerID int64
	keyPrefix  string
}

func (v viewer) actor() string { return principal{admin: v.admin, keyPrefix: v.keyPrefix}.actor() }

type viewerKey struct{}

// mayView reports whether the viewer may see a customer's pages.
func (v viewer) mayView(customerID int64) bool { return v.admin || v.customerID == customerID }

// newSessions keeps page sessions in the database: they expire (12 hours,
// or 2 idle), logging out deletes them, and a new login gets a new token.
func newSessions(cfg Config) *scs.SessionManager {
	sm := scs.New()
	// No cleanup goroutine of the store's: Start runs one bound to the
	// server's context.
	sm.Store = postgresstore.NewWithCleanupInterval(stdlib.OpenDBFromPool(cfg.Pool), 0)
	sm.Lifetime = 12 * time.Hour
	sm.IdleTimeout = 2 * time.Hour
	sm.Cookie.Name = "upstream_session"
	sm.Cookie.HttpOnly = true
	sm.Cookie.SameSite = http.SameSiteStrictMode
	sm.Cookie.Secure = cfg.SecureCookies
	return sm
}

// cleanSessions deletes expired sessions until ctx ends.
func (s *Server) cleanSessions(ctx context.Context) {
	ticker := time.NewTicker(30 * time.Minute)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			if _, err := s.cfg.Pool.Exec(ctx, `DELETE FROM sessions WHERE expiry < now()`); err != nil && ctx.Err() == nil {
				s.cfg.Logger.WarnContext(ctx, "delete expired sessions", "error", err)
			}
		}
	}
}

// viewerOf returns the request's viewer: the admin key as a Bearer token
// (scripts), else the session's.
func (s *Server) viewerOf(r *http.Request) (viewer, bool) {
	if v, ok := r.Context().Value(viewerKey{}).(viewer); ok {
		return v, true // requirePage checked it already
	}
	if s.isAdmin(r) {
		return viewer{admin: true}, true
	}
	ctx := r.Context()
	if s.sessions.GetBool(ctx, "admin") {
		// The session lives as long as the admin key it was opened with.
		if s.cfg.AdminKey != "" && hmac.Equal(s.sessions.GetBytes(ctx, "admin_key_tag"), adminKeyTag(s.cfg.AdminKey, s.sessions.GetBytes(ctx, "admin_key_salt"))) {
			return viewer{admin: true}, true
		}
		_ = s.sessions.Destroy(ctx) // the key was rotated: the session goes too
		return viewer{}, false
	}
	if id := s.sessions.GetInt64(ctx, "customer_id"); id != 0 {
		v := viewer{customerID: id, keyPrefix: s.sessions.GetString(ctx, "key_prefix")}
		// The session lives as long as the key it was opened with.
		active, err := store.New(s.cfg.Pool).APIKeyActiveExists(ctx, db.APIKeyActiveExistsParams{CustomerID: id, KeyPrefix: v.keyPrefix})
		if err == nil && !active {
			_ = s.sessions.Destroy(ctx) // revoked: the session goes too
		}
		return v, err == nil && active
	}
	return viewer{}, false
}

func (s *Server) routesPage() {
	page := func(h http.HandlerFunc) http.Handler { return s.sessions.LoadAndSave(s.frameDenied(h)) }
	s.mux.Handle("GET /login", page(s.loginForm))
	s.mux.Handle("POST /login", page(s.login))
	s.mux.Handle("POST /logout", page(s.requirePage(s.checkCSRF(s.logout))))
	s.mux.Handle("GET /{$}", page(s.requirePage(s.customersPage)))
	s.mux.Handle("GET /customers/{id}", page(s.requirePage(s.customerPage)))
	s.mux.Handle("GET /customers/{id}/events.csv", page(s.requirePage(s.eventsCSV)))
	s.mux.Handle("GET /customers/{id}/claims.csv", page(s.requirePage(s.claimsCSV)))
	s.mux.Handle("POST /customers/{id}/alerts/{action}", page(s.requirePage(s.checkCSRF(s.alertAction))))
}

// frameDenied forbids framing the page anywhere (clickjacking).
func (s *Server) frameDenied(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Frame-Options", "DENY")
		next(w, r)
	}
}

func (s *Server) requirePage(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, ok := s.viewerOf(r)
		if !ok {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		// Once per request: a customer's session costs a key lookup.
		next(w, r.WithContext(context.WithValue(r.Context(), viewerKey{}, v)))
	}
}

// csrfToken returns the session's form token, creating it.
func (s *Server) csrfToken(r *http.Request) string {
	token := s.sessions.GetString(r.Context(), "csrf")
	if token == "" {
		raw := make([]byte, 32)
		_, _ = rand.Read(raw) // crypto/rand does not fail
		token = base64.RawURLEncoding.EncodeToString(raw)
		s.sessions.Put(r.Context(), "csrf", token)
	}
	return token
}

// checkCSRF requires the session's token in the form: SameSite=Strict
// cookies already keep other sites out, the token also keeps out a form
// injected into a page of this origin's.
func (s *Server) checkCSRF(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
		want := s.sessions.GetString(r.Context(), "csrf")
		if want == "" || subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(want)) != 1 {
			s.pageError(w, r, http.StatusForbidden, "This form has expired or did not come from this page: reload the page and try again.")
			return
		}
		next(w, r)
	}
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, data map[string]any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'")
	if v, ok := s.viewerOf(r); ok {
		data["CSRF"] = s.csrfToken(r)
		data["Admin"] = v.admin // a customer's session sees only its own page's links
	}
	w.WriteHeader(status)
	if err := pageTemplates.ExecuteTemplate(w, name, data); err != nil {
		s.cfg.Logger.ErrorContext(r.Context(), "render page", "page", name, "error", err)
	}
}

func (s *Server) loginForm(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "login.html", map[string]any{})
}

// adminKeyTag ties an admin session to the admin key it was opened with,
// so rotating the key ends it. Four bytes of an HMAC under a per-session
// salt: a stale session passes by chance once in 2^32, and a session
// table's dump does not confirm a guess of the key.
func adminKeyTag(key string, salt []byte) []byte {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte("upstream admin session\x00"))
	mac.Write(salt)
	return mac.Sum(nil)[:4]
}

// login takes the admin key or a customer API key; the session remembers
// who, never the key.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	key := r.PostFormValue("key")
	v, ok := viewer{}, false
	if s.cfg.AdminKey != "" && subtle.ConstantTimeCompare([]byte(key), []byte(s.cfg.AdminKey)) == 1 {
		v, ok = viewer{admin: true}, true
	} else if id, err := customers.CustomerForAPIKey(r.Context(), store.New(s.cfg.Pool), key); err == nil {
		v, ok = viewer{customerID: id, keyPrefix: customers.KeyPrefix(key)}, true
	} else if !errors.Is(err, customers.ErrInvalidAPIKey) {
		s.internalError(w, r, err)
		return
	}
	if !ok {
		s.render(w, r, http.StatusUnauthorized, "login.html", map[string]any{"Failed": true})
		return
	}
	// A new token on login: a session fixed before it is worth nothing.
	if err := s.sessions.RenewToken(r.Context()); err != nil {
		s.internalError(w, r, err)
		return
	}
	s.sessions.Put(r.Context(), "admin", v.admin)
	if v.admin {
		salt := make([]byte, 16)
		if _, err := rand.Read(salt); err != nil {
			s.internalError(w, r, err)
			return
		}
		s.sessions.Put(r.Context(), "admin_key_salt", salt)
		s.sessions.Put(r.Context(), "admin_key_tag", adminKeyTag(s.cfg.AdminKey, salt))
	}
	s.sessions.Put(r.Context(), "customer_id", v.customerID)
	s.sessions.Put(r.Context(), "key_prefix", v.keyPrefix)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// logout deletes the session from the database: its cookie is worthless.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if err := s.sessions.Destroy(r.Context()); err != nil {
		s.internalError(w, r, err)
		return
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// pageError renders an error as a page, not JSON.
func (s *Server) pageError(w http.ResponseWriter, r *http.Request, status int, message string) {
	s.render(w, r, status, "error.html", map[string]any{"Title": http.StatusText(status), "Status": status, "Message": message})
}

func (s *Server) customersPage(w http.ResponseWriter, r *http.Request) {
	if v, _ := s.viewerOf(r); !v.admin {
		http.Redirect(w, r, fmt.Sprintf("/customers/%d", v.customerID), http.StatusSeeOther)
		return
	}
	// A page of them, from ?after (a name): the page is bounded like the API.
	after := r.URL.Query().Get("after")
	rows, err := store.New(s.cfg.Pool).CustomerListWithLatestRun(r.Context(), db.CustomerListWithLatestRunParams{AfterName: after, MaxRows: MaxPageSize + 1})
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	next := ""
	if len(rows) > MaxPageSize {
		rows = rows[:MaxPageSize]
		next = rows[MaxPageSize-1].Name
	}
	s.render(w, r, http.StatusOK, "customers.html", map[string]any{"Title": "Customers", "Customers": rows, "Next": next})
}
