package httpapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/upstream-rcm/upstream/internal/db"
	"github.com/upstream-rcm/upstream/internal/drift"
)

//go:embed templates/*.html
var templateFS embed.FS

var pageTemplates = template.Must(template.New("").Funcs(template.FuncMap{
	"pct":  func(v float64) string { return fmt.Sprintf("%.1f%%", v*100) },
	"days": func(v float64) string { return fmt.Sprintf("%.1f d", v) },
	"num":  func(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) },
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

func chartFor(e drift.EventView) chart {
	scale := math.Max(math.Abs(e.BaselineValue), math.Abs(e.CurrentValue))
	c := chart{}
	if scale > 0 {
		c.BaselineWidth = math.Max(1, chartBarMax*math.Abs(e.BaselineValue)/scale)
		c.CurrentWidth = math.Max(1, chartBarMax*math.Abs(e.CurrentValue)/scale)
	}
	if e.DriftType == drift.TypeDenialRate {
		c.BaselineLabel, c.CurrentLabel = fmt.Sprintf("%.1f%%", e.BaselineValue*100), fmt.Sprintf("%.1f%%", e.CurrentValue*100)
	} else {
		c.BaselineLabel, c.CurrentLabel = fmt.Sprintf("%.1f d", e.BaselineValue), fmt.Sprintf("%.1f d", e.CurrentValue)
	}
	return c
}

type eventRow struct {
	drift.EventView
	Chart chart
}

func (s *Server) customerPage(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	q := db.New(s.cfg.Pool)
	cust, err := q.CustomerGetByID(r.Context(), id)
	if errors.Is(err, pgx.ErrNoRows) {
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
	var selected *db.ReportRun
	if v := r.URL.Query().Get("run"); v != "" {
		runID, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		run, err := q.ReportRunGetByID(r.Context(), db.ReportRunGetByIDParams{CustomerID: id, ID: runID})
		if errors.Is(err, pgx.ErrNoRows) {
			http.NotFound(w, r)
			return
		}
		if err != nil {
			s.internalError(w, r, err)
			return
		}
		selected = &run
	} else if run, err := q.ReportRunGetLatestSuccessful(r.Context(), id); err == nil {
		selected = &run
	} else if !errors.Is(err, pgx.ErrNoRows) {
		s.internalError(w, r, err)
		return
	}
	data := map[string]any{"Customer": cust, "Runs": drift.ViewRuns(runs)}
	if selected != nil {
		events, err := q.DriftEventListByRun(r.Context(), db.DriftEventListByRunParams{CustomerID: id, ReportRunID: selected.ID})
		if err != nil {
			s.internalError(w, r, err)
			return
		}
		var rows []eventRow
		for _, e := range drift.ViewEvents(events) {
			rows = append(rows, eventRow{EventView: e, Chart: chartFor(e)})
		}
		data["Selected"] = drift.ViewRun(*selected)
		data["Events"] = rows
	}
	s.render(w, r, http.StatusOK, "customer.html", data)
}
