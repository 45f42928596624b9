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
	f, ok := eventFilters(w, r)
	if !ok {
		return
	}
	s.writeRun(w, r, cust, id, f)
}

// eventFilters reads the event filters: alert=true|false, payer,
// drift_type, min_severity; ok is false (and a 400 written) when one is
// invalid.
func eventFilters(w http.ResponseWriter, r *http.Request) (drift.EventFilter, bool) {
	q := r.URL.Query()
	f := drift.EventFilter{Payer: q.Get("payer")}
	if v := q.Get("alert"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalid_request", "alert must be true or false", nil)
			return f, false
		}
		f.Alert = &b
	}
	if v := q.Get("drift_type"); v != "" {
		t, err := drift.ParseType(v)
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalid_request", "drift_type: "+err.Error(), nil)
			return f, false
		}
		f.DriftType = t
	}
	if v := q.Get("min_severity"); v != "" {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil || !(n >= 0 && n <= 1) { // also refuses NaN
			writeError(w, http.StatusBadRequest, "invalid_request", "min_severity must be a number from 0 to 1", nil)
			return f, false
		}
		f.MinSeverity = n
	}
	return f, true
}

// listDriftEvents is the latest successful run's events; a cursor keeps
// reading the run it started on, even after a newer one.
func (s *Server) listDriftEvents(w http.ResponseWriter, r *http.Request, cust db.Customer) {
	f, ok := eventFilters(w, r)
	if !ok {
		return
	}
	s.writeRun(w, r, cust, 0, f)
}

// writeRun writes a run (runID, or the latest successful one for 0) with
// a page of its filtered events as JSON, alerts first: ?limit (default
// DefaultPageSize, at most MaxPageSize) and the next_cursor of the
// previous page. Asked with ?format=csv or Accept: text/csv, it writes all
// the run's filtered events as CSV (a download: bounded by the run, which
// holds at most two events per payer and CPT group).
func (s *Server) writeRun(w http.ResponseWriter, r *http.Request, cust db.Customer, runID int64, f drift.EventFilter) {
	q := store.New(s.cfg.Pool)
	if r.URL.Query().Get("format") == "csv" || strings.Contains(r.Header.Get("Accept"), "text/csv") {
		run, err := drift.LoadRun(r.Context(), q, cust.ID, runID)
		if !s.runFound(w, r, err) {
			return
		}
		events := []drift.EventView{}
		for _, e := range run.Events {
			if f.Keep(e) {
				events = append(events, e)
			}
		}
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="drift-events-run-%d.csv"`, run.ReportRun.ID))
		if err := drift.WriteEventsCSV(w, events); err != nil {
			s.cfg.Logger.WarnContext(r.Context(), "write CSV", "error", err)
		}
		return
	}
	limit, cursor, ok := pageParams(w, r)
	if !ok {
		return
	}
	offset := 0
	if cursor != nil {
		parts, err := decodeCursor(*cursor, 2)
		cursorRun, err1 := strconv.ParseInt(parts[0], 10, 64)
		off, err2 := strconv.Atoi(parts[1])
		if err != nil || err1 != nil || err2 != nil || off < 0 || (runID != 0 && cursorRun != runID) {
			badCursor(w)
			return
		}
		runID, offset = cursorRun, off
	}
	page, err := drift.LoadRunPage(r.Context(), q, cust.ID, runID, f, offset, limit)
	if !s.runFound(w, r, err) {
		return
	}
	var next *string
	if page.Next >= 0 {
		c := encodeCursor(strconv.FormatInt(page.ReportRun.ID, 10), strconv.Itoa(page.Next))
		next = &c
	}
	writeJSON(w, http.StatusOK, struct {
		drift.RunPage
		NextCursor *string `json:"next_cursor"`
	}{page, next})
}

// runFound writes the response for a failed run lookup and reports
// whether there was none to write.
func (s *Server) runFound(w http.ResponseWriter, r *http.Request, err error) bool {
	switch {
	case err == nil:
		return true
	case errors.Is(err, drift.ErrRunNotFound):
		writeError(w, http.StatusNotFound, "not_found", "report run not found", nil)
	case errors.Is(err, drift.ErrNoSuccessfulRun):
		writeError(w, http.StatusNotFound, "no_report_run", "no successful report run yet for this customer", nil)
	default:
		s.internalError(w, r, err)
	}
	return false
}
