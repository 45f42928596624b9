package httpapi

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"time"

	alertsdomain "github.com/upstream-rcm/upstream/internal/alerts"
	"github.com/upstream-rcm/upstream/internal/customers"
	"github.com/upstream-rcm/upstream/internal/db"
	"github.com/upstream-rcm/upstream/internal/drift"
	"github.com/upstream-rcm/upstream/internal/names"
	"github.com/upstream-rcm/upstream/internal/store"
	"github.com/upstream-rcm/upstream/internal/trends"
	"github.com/upstream-rcm/upstream/internal/webhooks"
)

func (s *Server) customerPage(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		s.pageError(w, r, http.StatusNotFound, "Not found.")
		return
	}
	q := store.New(s.cfg.Pool)
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
	data := map[string]any{"Title": cust.Name, "Customer": cust, "Runs": drift.ViewRuns(runs), "Filter": filter, "Types": drift.Types}
	runIDs := make([]int64, len(runs))
	for i, r := range runs {
		runIDs[i] = r.ID
	}
	sums, err := q.DriftEventDollarsByRuns(r.Context(), db.DriftEventDollarsByRunsParams{CustomerID: id, RunIds: runIDs})
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	runDollars := map[int64]string{}
	for _, d := range sums {
		runDollars[d.ReportRunID] = drift.FormatMoney(d.Dollars)
	}
	data["RunDollars"] = runDollars
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
		// The states of the run's alerts: their subjects changed with the
		// run, so they lead the most recently changed.
		subjects, err := alertsdomain.List(r.Context(), q, id, nil, MaxPageSize)
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
		// Alerts in full; of the rest, a summary and the first rows (the
		// CSV has them all).
		data["EventsTotal"] = len(others)
		data["Events"] = rows(others[:min(len(others), maxOtherEventsShown)])
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
		deliveries, err := webhooks.ListDeliveries(r.Context(), q, id, ep.ID, 0, 5)
		if err != nil {
			s.internalError(w, r, err)
			return
		}
		hooks = append(hooks, endpointRow{EndpointView: webhooks.ViewEndpoint(ep), Deliveries: deliveries})
	}
	data["Webhooks"] = hooks
	// Every cell, one click from its trend: the claims decided in the
	// selected run's current window, or in the last 28 days.
	end := time.Now().UTC()
	start := end.AddDate(0, 0, -28)
	if sel, ok := data["Selected"].(drift.RunView); ok && sel.Summary.CurrentStart != nil && sel.Summary.CurrentEnd != nil {
		if cs, err := time.Parse(time.DateOnly, *sel.Summary.CurrentStart); err == nil {
			if ce, err := time.Parse(time.DateOnly, *sel.Summary.CurrentEnd); err == nil {
				start, end = cs, ce
			}
		}
	}
	cells, err := q.ClaimStatsCellTotals(r.Context(), db.ClaimStatsCellTotalsParams{CustomerID: id, Start: start, EndDate: end, MaxRows: gridMaxCells + 1})
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	data["Grid"] = newCellGrid(cells, start.Format(time.DateOnly), end.Format(time.DateOnly))
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

// maxOtherEventsShown bounds the page's list of events that are not
// alerts (a stationary customer has hundreds).
const maxOtherEventsShown = 50

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
	_, err = alertsdomain.Update(r.Context(), s.cfg.Pool, webhooks.Notifier(s.jobs, id, "", time.Now()), id, subject, change, time.Now())
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
	run, err := drift.LoadRun(r.Context(), store.New(s.cfg.Pool), id, runID)
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
