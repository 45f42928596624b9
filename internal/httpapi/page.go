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
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"context"
	"encoding/base64"
	"github.com/alexedwards/scs/postgresstore"
	"github.com/alexedwards/scs/v2"
	"github.com/jackc/pgx/v5/stdlib"
	alertsdomain "github.com/upstream-rcm/upstream/internal/alerts"
	"github.com/upstream-rcm/upstream/internal/customers"
	"github.com/upstream-rcm/upstream/internal/db"
	"github.com/upstream-rcm/upstream/internal/drift"
	"github.com/upstream-rcm/upstream/internal/names"
	"github.com/upstream-rcm/upstream/internal/trends"
	"github.com/upstream-rcm/upstream/internal/webhooks"
	"time"
)

//go:embed templates/*.html
var templateFS embed.FS

var pageTemplates = template.Must(template.New("").Funcs(template.FuncMap{
	"value":  drift.FormatValue,
	"delta":  drift.FormatDelta,
	"num":    func(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) },
	"driver": drift.FormatDriver,
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
		active, err := db.New(s.cfg.Pool).APIKeyActiveExists(ctx, db.APIKeyActiveExistsParams{CustomerID: id, KeyPrefix: v.keyPrefix})
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
	if _, ok := s.viewerOf(r); ok {
		data["CSRF"] = s.csrfToken(r)
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
	} else if id, err := customers.CustomerForAPIKey(r.Context(), db.New(s.cfg.Pool), key); err == nil {
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
	rows, err := db.New(s.cfg.Pool).CustomerListWithLatestRun(r.Context())
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "customers.html", map[string]any{"Title": "Customers", "Customers": rows})
}

// chart is an inline SVG comparing baseline and current for one event.
type chart struct {
	BaselineWidth, CurrentWidth float64
	BaselineLabel, CurrentLabel string
}

const chartBarMax = 160.0

// chartFor draws baseline against current on a scale shared by every row
// of the same metric, so rows can be compared.
func chartFor(t drift.Type, baseline, current, scale float64) chart {
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
	// Subject is the alert's lifecycle (alerts only).
	Subject *alertsdomain.SubjectView
}

// shown returns the values a row shows: for alerts, those the evidence
// compared.
func shown(e drift.EventView) (baseline, current float64, baselineSize, currentSize int) {
	if e.Alert {
		return e.Compared()
	}
	return e.BaselineValue, e.CurrentValue, e.BaselineSampleSize, e.CurrentSampleSize
}

// newEventRow draws an event with scales[its drift type] as the full bar.
func newEventRow(e drift.EventView, scales map[drift.Type]float64) eventRow {
	b, c, nb, nc := shown(e)
	return eventRow{EventView: e, Chart: chartFor(e.DriftType, b, c, scales[e.DriftType]),
		Baseline: drift.FormatValue(e.DriftType, b), Current: drift.FormatValue(e.DriftType, c), Change: drift.FormatDelta(e.DriftType, c-b),
		BaselineSize: nb, CurrentSize: nc, Worse: c > b}
}

func (s *Server) customerPage(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		s.pageError(w, r, http.StatusNotFound, "Not found.")
		return
	}
	q := db.New(s.cfg.Pool)
	v, _ := s.viewerOf(r)
	cust, err := customers.ByID(r.Context(), q, id)
	if errors.Is(err, customers.ErrNotFound) || (err == nil && !v.mayView(id)) {
		s.pageError(w, r, http.StatusNotFound, "Not found.")
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
			s.pageError(w, r, http.StatusNotFound, "Not found.")
			return
		}
	}
	filter, ok := pageFilter(r)
	if !ok {
		s.pageError(w, r, http.StatusBadRequest, "Unknown drift type in the filter.")
		return
	}
	data := map[string]any{"Title": cust.Name, "Customer": cust, "Runs": drift.ViewRuns(runs), "Filter": filter}
	selected, err := drift.LoadRun(r.Context(), q, id, runID)
	selected.Events = filter.apply(selected.Events)
	switch {
	case errors.Is(err, drift.ErrRunNotFound):
		s.pageError(w, r, http.StatusNotFound, "Not found.")
		return
	case errors.Is(err, drift.ErrNoSuccessfulRun):
	case err != nil:
		s.internalError(w, r, err)
		return
	default:
		data["Payers"] = payersOf(selected.Events, filter)
		alerts, others := drift.Alerts(selected.Events)
		scales := map[drift.Type]float64{}
		for _, e := range selected.Events {
			b, c, _, _ := shown(e)
			scales[e.DriftType] = math.Max(scales[e.DriftType], math.Max(math.Abs(b), math.Abs(c)))
		}
		rows := func(events []drift.EventView) []eventRow {
			out := make([]eventRow, len(events))
			for i, e := range events {
				out[i] = newEventRow(e, scales)
			}
			return out
		}
		subjects, err := alertsdomain.List(r.Context(), q, id)
		if err != nil {
			s.internalError(w, r, err)
			return
		}
		states := map[alertsdomain.Subject]alertsdomain.SubjectView{}
		for _, sub := range subjects {
			states[sub.Subject] = sub
		}
		alertRows := rows(alerts)
		for i := range alertRows {
			a := alertRows[i]
			if sub, ok := states[alertsdomain.Subject{Payer: a.Payer, CPTGroup: a.CPTGroup, DriftType: a.DriftType}]; ok {
				alertRows[i].Subject = &sub
			}
		}
		data["Selected"] = selected.ReportRun
		data["Alerts"] = alertRows
		data["SnoozeDefault"] = time.Now().UTC().AddDate(0, 0, 14).Format(time.DateOnly)
		data["Events"] = rows(others)
	}
	endpoints, err := q.WebhookEndpointListByCustomer(r.Context(), id)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	type endpointRow struct {
		webhooks.EndpointView
		Deliveries []webhooks.DeliveryView
	}
	var hooks []endpointRow
	for _, ep := range endpoints {
		deliveries, err := webhooks.ListDeliveries(r.Context(), q, id, ep.ID, 5)
		if err != nil {
			s.internalError(w, r, err)
			return
		}
		hooks = append(hooks, endpointRow{EndpointView: webhooks.ViewEndpoint(ep), Deliveries: deliveries})
	}
	data["Webhooks"] = hooks
	if payer, group := r.URL.Query().Get("trend_payer"), r.URL.Query().Get("trend_group"); payer != "" && group != "" {
		series, err := trends.WeeklySeries(r.Context(), q, id, payer, group, time.Now(), trends.DefaultWeeks)
		switch {
		case errors.Is(err, names.ErrUnknown):
			data["TrendError"] = err.Error()
		case err != nil:
			s.internalError(w, r, err)
			return
		default:
			data["Trend"] = series
			data["TrendCharts"] = trendCharts(series)
		}
	}
	s.render(w, r, http.StatusOK, "customer.html", data)
}

// alertAction acknowledges, snoozes or resolves an alert's subject from the
// page's buttons, as the viewer.
func (s *Server) alertAction(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	v, _ := s.viewerOf(r)
	if err != nil || !v.mayView(id) {
		s.pageError(w, r, http.StatusNotFound, "Not found.")
		return
	}
	to := map[string]alertsdomain.State{"ack": alertsdomain.Acknowledged, "snooze": alertsdomain.Snoozed, "resolve": alertsdomain.Resolved}[r.PathValue("action")]
	typ, err := drift.ParseType(r.PostFormValue("drift_type"))
	if to == "" || err != nil {
		s.pageError(w, r, http.StatusBadRequest, "Unknown action or drift type.")
		return
	}
	change := alertsdomain.Change{To: to, Note: r.PostFormValue("note"), Actor: v.actor()}
	if until := r.PostFormValue("until"); until != "" {
		if change.Until, err = time.Parse(time.DateOnly, until); err != nil {
			s.pageError(w, r, http.StatusUnprocessableEntity, "The snooze date must be YYYY-MM-DD.")
			return
		}
	}
	subject := alertsdomain.Subject{Payer: r.PostFormValue("payer"), CPTGroup: r.PostFormValue("cpt_group"), DriftType: typ}
	_, err = alertsdomain.Update(r.Context(), s.cfg.Pool, id, subject, change, time.Now())
	switch {
	case errors.Is(err, names.ErrUnknown):
		s.pageError(w, r, http.StatusNotFound, err.Error())
	case errors.Is(err, alertsdomain.ErrSubjectNotFound):
		s.pageError(w, r, http.StatusNotFound, "No alert for this payer, CPT group and drift type.")
	case errors.As(err, new(*alertsdomain.ChangeError)):
		s.pageError(w, r, http.StatusUnprocessableEntity, err.Error())
	case err != nil:
		s.internalError(w, r, err)
	default:
		back := fmt.Sprintf("/customers/%d", id)
		if run, err := strconv.ParseInt(r.PostFormValue("run"), 10, 64); err == nil && run > 0 {
			back += fmt.Sprintf("?run=%d", run)
		}
		http.Redirect(w, r, back, http.StatusSeeOther)
	}
}

// pageFilters are the customer page's filters (query parameters payer,
// type, alerts), also applied to its CSV download.
type pageFilters struct {
	Payer      string
	Type       drift.Type
	AlertsOnly bool
}

func pageFilter(r *http.Request) (pageFilters, bool) {
	q := r.URL.Query()
	f := pageFilters{Payer: q.Get("payer"), AlertsOnly: q.Get("alerts") == "1"}
	if v := q.Get("type"); v != "" {
		t, err := drift.ParseType(v)
		if err != nil {
			return f, false
		}
		f.Type = t
	}
	return f, true
}

func (f pageFilters) apply(events []drift.EventView) []drift.EventView {
	out := []drift.EventView{}
	for _, e := range events {
		if (f.Payer == "" || e.Payer == f.Payer) && (f.Type == "" || e.DriftType == f.Type) && (!f.AlertsOnly || e.Alert) {
			out = append(out, e)
		}
	}
	return out
}

// payersOf lists the payers the filter can choose from, the chosen one
// included when the filter emptied the list.
func payersOf(events []drift.EventView, f pageFilters) []string {
	seen := map[string]bool{}
	var out []string
	if f.Payer != "" {
		seen[f.Payer], out = true, append(out, f.Payer)
	}
	for _, e := range events {
		if !seen[e.Payer] {
			seen[e.Payer] = true
			out = append(out, e.Payer)
		}
	}
	slices.Sort(out)
	return out
}

// eventsCSV downloads the selected run's events, filtered as on the page.
func (s *Server) eventsCSV(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	v, _ := s.viewerOf(r)
	if err != nil || !v.mayView(id) {
		s.pageError(w, r, http.StatusNotFound, "Not found.")
		return
	}
	var runID int64
	if q := r.URL.Query().Get("run"); q != "" {
		if runID, err = strconv.ParseInt(q, 10, 64); err != nil || runID < 1 {
			s.pageError(w, r, http.StatusNotFound, "Not found.")
			return
		}
	}
	filter, ok := pageFilter(r)
	if !ok {
		s.pageError(w, r, http.StatusBadRequest, "Unknown drift type in the filter.")
		return
	}
	run, err := drift.LoadRun(r.Context(), db.New(s.cfg.Pool), id, runID)
	if errors.Is(err, drift.ErrRunNotFound) || errors.Is(err, drift.ErrNoSuccessfulRun) {
		s.pageError(w, r, http.StatusNotFound, "No such run.")
		return
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="drift-events-run-%d.csv"`, run.ReportRun.ID))
	if err := drift.WriteEventsCSV(w, filter.apply(run.Events)); err != nil {
		s.cfg.Logger.WarnContext(r.Context(), "write CSV", "error", err)
	}
}

// trendChart is one inline SVG line chart of a weekly series, with its axes
// labelled and the weeks that raised alerts marked.
type trendChart struct {
	Title              string
	Top, Bottom        string // y-axis labels
	First, Last        string // x-axis labels
	Line, Band         string // SVG points
	Alerts             []chartPoint
	Width, Height, Pad float64
}

type chartPoint struct{ X, Y float64 }

func trendCharts(s *trends.Series) []trendChart {
	const width, height, pad = 560.0, 140.0, 40.0
	n := len(s.Weeks)
	x := func(i int) float64 { return pad + (width-2*pad)*float64(i)/float64(max(n-1, 1)) }
	build := func(title string, value func(trends.Week) (v, lo, hi float64, ok bool), format func(float64) string, band bool, alertType drift.Type) trendChart {
		c := trendChart{Title: title, First: s.Weeks[0].Start, Last: s.Weeks[n-1].Start, Width: width, Height: height, Pad: pad}
		top := 0.0
		for _, w := range s.Weeks {
			if v, _, hi, ok := value(w); ok {
				top = math.Max(top, math.Max(v, hi))
			}
		}
		if top == 0 {
			top = 1
		}
		y := func(v float64) float64 { return height - pad/2 - (height-pad)*v/top }
		c.Top, c.Bottom = format(top), format(0)
		var upper, lower []string
		for i, w := range s.Weeks {
			v, lo, hi, ok := value(w)
			if !ok {
				continue
			}
			c.Line += fmt.Sprintf("%.1f,%.1f ", x(i), y(v))
			if band {
				upper = append(upper, fmt.Sprintf("%.1f,%.1f", x(i), y(hi)))
				lower = append([]string{fmt.Sprintf("%.1f,%.1f", x(i), y(lo))}, lower...)
			}
			if slices.Contains(w.Alerts, alertType) {
				c.Alerts = append(c.Alerts, chartPoint{x(i), y(v)})
			}
		}
		c.Band = strings.Join(append(upper, lower...), " ")
		return c
	}
	rate := build("Denial rate (claims decided each week), 95% interval shaded", func(w trends.Week) (float64, float64, float64, bool) {
		return w.DenialRate, w.RateLow, w.RateHigh, w.Volume > 0
	}, func(v float64) string { return drift.FormatValue(drift.TypeDenialRate, v) }, true, drift.TypeDenialRate)
	days := build("Median days to decision", func(w trends.Week) (float64, float64, float64, bool) {
		if w.MedianDays == nil {
			return 0, 0, 0, false
		}
		return *w.MedianDays, 0, 0, true
	}, func(v float64) string { return drift.FormatValue(drift.TypeDecisionTime, v) }, false, drift.TypeDecisionTime)
	return []trendChart{rate, days}
}
