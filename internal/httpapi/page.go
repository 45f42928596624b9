package httpapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"errors"
	"html/template"
	"math"
	"net/http"
	"strconv"

	"github.com/upstream-rcm/upstream/internal/customers"
	"github.com/upstream-rcm/upstream/internal/db"
	"github.com/upstream-rcm/upstream/internal/drift"
)

//go:embed templates/*.html
var templateFS embed.FS

var pageTemplates = template.Must(template.New("").Funcs(template.FuncMap{
	"value": drift.FormatValue,
	"delta": drift.FormatDelta,
	"num":   func(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) },
	"q": func(q *float64) string {
		if q == nil {
			return "-"
		}
		return strconv.FormatFloat(*q, 'g', 2, 64)
	},
}).ParseFS(templateFS, "templates/*.html"))

const sessionCookie = "upstream_session"

// sessionToken is what the login cookie holds: derived from the admin key,
// never the key itself, and invalid as soon as the key changes.
func (s *Server) sessionToken() string {
	mac := hmac.New(sha256.New, []byte(s.cfg.AdminKey))
	mac.Write([]byte("upstream drift page session v1"))
	return hex.EncodeToString(mac.Sum(nil))
}

func (s *Server) pageAuthorized(r *http.Request) bool {
	if s.cfg.AdminKey == "" {
		return false
	}
	if s.isAdmin(r) {
		return true
	}
	c, err := r.Cookie(sessionCookie)
	return err == nil && subtle.ConstantTimeCompare([]byte(c.Value), []byte(s.sessionToken())) == 1
}

func (s *Server) routesPage() {
	s.mux.HandleFunc("GET /login", s.loginForm)
	s.mux.HandleFunc("POST /login", s.login)
	s.mux.HandleFunc("POST /logout", s.logout)
	s.mux.HandleFunc("GET /{$}", s.requirePage(s.customersPage))
	s.mux.HandleFunc("GET /customers/{id}", s.requirePage(s.customerPage))
}

func (s *Server) requirePage(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.pageAuthorized(r) {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		next(w, r)
	}
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'unsafe-inline'")
	w.WriteHeader(status)
	if err := pageTemplates.ExecuteTemplate(w, name, data); err != nil {
		s.cfg.Logger.ErrorContext(r.Context(), "render page", "page", name, "error", err)
	}
}

func (s *Server) loginForm(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "login.html", map[string]any{"Disabled": s.cfg.AdminKey == ""})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	key := r.PostFormValue("admin_key")
	if s.cfg.AdminKey == "" || subtle.ConstantTimeCompare([]byte(key), []byte(s.cfg.AdminKey)) != 1 {
		s.render(w, r, http.StatusUnauthorized, "login.html", map[string]any{"Failed": true, "Disabled": s.cfg.AdminKey == ""})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: s.sessionToken(), Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, MaxAge: 12 * 3600})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func (s *Server) customersPage(w http.ResponseWriter, r *http.Request) {
	rows, err := db.New(s.cfg.Pool).CustomerListWithLatestRun(r.Context())
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "customers.html", map[string]any{"Customers": rows})
}

// chart is an inline SVG comparing baseline and current for one event.
type chart struct {
	BaselineWidth, CurrentWidth float64
	BaselineLabel, CurrentLabel string
}

const chartBarMax = 160.0

func chartFor(t drift.Type, baseline, current float64) chart {
	scale := math.Max(math.Abs(baseline), math.Abs(current))
	c := chart{}
	if scale > 0 {
		c.BaselineWidth = math.Max(1, chartBarMax*math.Abs(baseline)/scale)
		c.CurrentWidth = math.Max(1, chartBarMax*math.Abs(current)/scale)
	}
	c.BaselineLabel, c.CurrentLabel = drift.FormatValue(t, baseline), drift.FormatValue(t, current)
	return c
}

// eventRow is an event as the page shows it: alerts with the values their
// evidence compared (claims decided in each window), other events with the
// seed rule's.
type eventRow struct {
	drift.EventView
	Chart                     chart
	Baseline, Current, Change string
	BaselineSize, CurrentSize int
	Worse                     bool // more denials or slower decisions
}

func newEventRow(e drift.EventView) eventRow {
	b, c, nb, nc := e.BaselineValue, e.CurrentValue, e.BaselineSampleSize, e.CurrentSampleSize
	if e.Alert {
		b, c, nb, nc = e.Compared()
	}
	return eventRow{EventView: e, Chart: chartFor(e.DriftType, b, c),
		Baseline: drift.FormatValue(e.DriftType, b), Current: drift.FormatValue(e.DriftType, c), Change: drift.FormatDelta(e.DriftType, c-b),
		BaselineSize: nb, CurrentSize: nc, Worse: c > b}
}

func (s *Server) customerPage(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	q := db.New(s.cfg.Pool)
	cust, err := customers.ByID(r.Context(), q, id)
	if errors.Is(err, customers.ErrNotFound) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	runs, err := q.ReportRunListByCustomer(r.Context(), db.ReportRunListByCustomerParams{CustomerID: id, MaxRows: 25})
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	var runID int64 // 0: the latest successful run
	if v := r.URL.Query().Get("run"); v != "" {
		if runID, err = strconv.ParseInt(v, 10, 64); err != nil || runID < 1 {
			http.NotFound(w, r)
			return
		}
	}
	data := map[string]any{"Customer": cust, "Runs": drift.ViewRuns(runs)}
	selected, err := drift.LoadRun(r.Context(), q, id, runID)
	switch {
	case errors.Is(err, drift.ErrRunNotFound):
		http.NotFound(w, r)
		return
	case errors.Is(err, drift.ErrNoSuccessfulRun):
	case err != nil:
		s.internalError(w, r, err)
		return
	default:
		alerts, others := drift.Alerts(selected.Events)
		rows := func(events []drift.EventView) []eventRow {
			out := make([]eventRow, len(events))
			for i, e := range events {
				out[i] = newEventRow(e)
			}
			return out
		}
		data["Selected"] = selected.ReportRun
		data["Alerts"] = rows(alerts)
		data["Events"] = rows(others)
	}
	s.render(w, r, http.StatusOK, "customer.html", data)
}
