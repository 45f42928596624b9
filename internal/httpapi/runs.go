package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/upstream-rcm/upstream/internal/db"
	"github.com/upstream-rcm/upstream/internal/drift"
	"github.com/upstream-rcm/upstream/internal/store"
	"github.com/upstream-rcm/upstream/jobs"
)

func (s *Server) createDriftRun(w http.ResponseWriter, r *http.Request, cust db.Customer) {
	var body struct {
		AsOf         *string  `json:"as_of"`
		BaselineDays *int     `json:"baseline_days"`
		CurrentDays  *int     `json:"current_days"`
		MinVolume    *int     `json:"min_volume"`
		FDR          *float64 `json:"fdr"`
	}
	if !decodeJSON(w, r, &body) {
		return
	}
	p := drift.DefaultParams(time.Now())
	if body.AsOf != nil {
		t, err := time.Parse(time.DateOnly, *body.AsOf)
		if err != nil {
			writeError(w, http.StatusUnprocessableEntity, "invalid_request", fmt.Sprintf("as_of %q: use YYYY-MM-DD", *body.AsOf), nil)
			return
		}
		p.AsOf = t
	}
	for _, f := range []struct {
		v   *int
		dst *int
	}{{body.BaselineDays, &p.BaselineDays}, {body.CurrentDays, &p.CurrentDays}, {body.MinVolume, &p.MinVolume}} {
		if f.v != nil {
			*f.dst = *f.v
		}
	}
	if body.FDR != nil {
		p.FDR = *body.FDR
	}
	if err := p.Validate(); err != nil {
		writeError(w, http.StatusUnprocessableEntity, "invalid_request", err.Error(), nil)
		return
	}
	res, err := s.cfg.River.Insert(r.Context(), jobs.ManualDrift(cust.ID, p), nil)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"job_id": res.Job.ID})
}

func (s *Server) listReportRuns(w http.ResponseWriter, r *http.Request, cust db.Customer) {
	limit := 50
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			writeError(w, http.StatusBadRequest, "invalid_request", "limit must be 1..500", nil)
			return
		}
		limit = n
	}
	var before *int64
	if v := r.URL.Query().Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalid_request", "before must be a report run id", nil)
			return
		}
		before = &n
	}
	runs, err := store.New(s.cfg.Pool).ReportRunListByCustomer(r.Context(), db.ReportRunListByCustomerParams{
		CustomerID: cust.ID, BeforeID: before, MaxRows: int32(limit + 1)})
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	var nextBefore *int64
	if len(runs) > limit {
		runs = runs[:limit]
		nextBefore = &runs[limit-1].ID
	}
	writeJSON(w, http.StatusOK, struct {
		ReportRuns []drift.RunView `json:"report_runs"`
		NextBefore *int64          `json:"next_before"`
	}{ReportRuns: drift.ViewRuns(runs), NextBefore: nextBefore})
}

func (s *Server) getReportRun(w http.ResponseWriter, r *http.Request, cust db.Customer) {
	id, err := strconv.ParseInt(r.PathValue("run_id"), 10, 64)
	if err != nil || id < 1 { // 0 would mean the latest run to LoadRun
		writeError(w, http.StatusNotFound, "not_found", "report run not found", nil)
		return
	}
	run, err := drift.LoadRun(r.Context(), store.New(s.cfg.Pool), cust.ID, id)
	if errors.Is(err, drift.ErrRunNotFound) {
		writeError(w, http.StatusNotFound, "not_found", "report run not found", nil)
		return
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	f, ok := alertFilter(w, r)
	if !ok {
		return
	}
	s.writeRun(w, r, run, f)
}

type eventFilter struct {
	payer       string
	driftType   drift.Type
	minSeverity float64
	alert       *bool
}

func (f eventFilter) keep(e drift.EventView) bool {
	return (f.payer == "" || strings.EqualFold(e.Payer, f.payer)) &&
		(f.driftType == "" || e.DriftType == f.driftType) && e.Severity >= f.minSeverity &&
		(f.alert == nil || e.Alert == *f.alert)
}

// alertFilter reads ?alert=true|false; ok is false (and a 400 written) when
// it is not a boolean.
func alertFilter(w http.ResponseWriter, r *http.Request) (eventFilter, bool) {
	var f eventFilter
	if v := r.URL.Query().Get("alert"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalid_request", "alert must be true or false", nil)
			return f, false
		}
		f.alert = &b
	}
	return f, true
}

func (s *Server) listDriftEvents(w http.ResponseWriter, r *http.Request, cust db.Customer) {
	q := r.URL.Query()
	f, ok := alertFilter(w, r)
	if !ok {
		return
	}
	f.payer = q.Get("payer")
	if v := q.Get("drift_type"); v != "" {
		t, err := drift.ParseType(v)
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalid_request", "drift_type: "+err.Error(), nil)
			return
		}
		f.driftType = t
	}
	if v := q.Get("min_severity"); v != "" {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil || !(n >= 0 && n <= 1) { // also refuses NaN
			writeError(w, http.StatusBadRequest, "invalid_request", "min_severity must be a number from 0 to 1", nil)
			return
		}
		f.minSeverity = n
	}
	run, err := drift.LoadRun(r.Context(), store.New(s.cfg.Pool), cust.ID, 0)
	if errors.Is(err, drift.ErrNoSuccessfulRun) {
		writeError(w, http.StatusNotFound, "no_report_run", "no successful report run yet for this customer", nil)
		return
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	s.writeRun(w, r, run, f)
}

// writeRun writes a run with its (filtered) events as JSON, or the events
// as CSV when asked with ?format=csv or Accept: text/csv.
func (s *Server) writeRun(w http.ResponseWriter, r *http.Request, run drift.RunWithEvents, f eventFilter) {
	events := []drift.EventView{}
	for _, e := range run.Events {
		if f.keep(e) {
			events = append(events, e)
		}
	}
	if r.URL.Query().Get("format") == "csv" || strings.Contains(r.Header.Get("Accept"), "text/csv") {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="drift-events-run-%d.csv"`, run.ReportRun.ID))
		if err := drift.WriteEventsCSV(w, events); err != nil {
			s.cfg.Logger.WarnContext(r.Context(), "write CSV", "error", err)
		}
		return
	}
	writeJSON(w, http.StatusOK, drift.RunWithEvents{ReportRun: run.ReportRun, Events: events})
}
