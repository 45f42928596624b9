package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/upstream-rcm/upstream/internal/db"
	"github.com/upstream-rcm/upstream/internal/drift"
	"github.com/upstream-rcm/upstream/internal/names"
	"github.com/upstream-rcm/upstream/internal/store"
	"github.com/upstream-rcm/upstream/internal/worklist"
)

// worklistRequest reads a worklist request from the URL: the subject's
// payer and CPT group from the path (API) or the query (page), and
// window, denied, run, limit and cursor from the query.
func worklistRequest(r *http.Request, customerID int64, payer, group string) (worklist.Request, error) {
	q := r.URL.Query()
	wr := worklist.Request{CustomerID: customerID, Payer: payer, CPTGroup: group, Window: q.Get("window"), Cursor: q.Get("cursor")}
	if payer == "" || group == "" {
		return wr, &worklist.RequestError{Msg: "payer and cpt_group are required"}
	}
	if v := q.Get("denied"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return wr, &worklist.RequestError{Msg: "denied must be true or false"}
		}
		wr.DeniedOnly = b
	}
	if v := q.Get("run"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return wr, &worklist.RequestError{Msg: "run must be a report run id"}
		}
		wr.RunID = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 { // 0 would mean the default
			return wr, &worklist.RequestError{Msg: fmt.Sprintf("limit must be from 1 to %d", worklist.MaxLimit)}
		}
		wr.Limit = n
	}
	return wr, nil
}

// worklistStatus maps a worklist error to its status and code; 0 for an
// internal error.
func worklistStatus(err error) (int, string) {
	switch {
	case errors.As(err, new(*worklist.RequestError)):
		return http.StatusBadRequest, "invalid_request"
	case errors.Is(err, names.ErrUnknown), errors.Is(err, drift.ErrRunNotFound), errors.Is(err, drift.ErrNoSuccessfulRun):
		return http.StatusNotFound, "not_found"
	}
	return 0, ""
}

// getClaims is GET .../subjects/{payer}/{cpt_group}/claims: a page of the
// claims behind the subject's alert as JSON, or every claim as CSV
// (format=csv or Accept: text/csv), streamed.
func (s *Server) getClaims(w http.ResponseWriter, r *http.Request, cust db.Customer) {
	wr, err := worklistRequest(r, cust.ID, r.PathValue("payer"), r.PathValue("cpt_group"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", err.Error(), nil)
		return
	}
	q := store.New(s.cfg.Pool)
	// The first page answers errors before anything is written.
	page, err := worklist.List(r.Context(), q, wr)
	if status, code := worklistStatus(err); status != 0 {
		writeError(w, status, code, err.Error(), nil)
		return
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	if r.URL.Query().Get("format") == "csv" || strings.Contains(r.Header.Get("Accept"), "text/csv") {
		s.writeWorklistCSV(w, r, wr, page)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

func (s *Server) writeWorklistCSV(w http.ResponseWriter, r *http.Request, wr worklist.Request, page worklist.Page) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="claims-run-%d-%s.csv"`, page.ReportRunID, page.Window))
	wr.Cursor = ""
	if err := worklist.WriteCSV(r.Context(), store.New(s.cfg.Pool), wr, w); err != nil {
		// The status is sent: the truncated body is all a client can get.
		s.cfg.Logger.ErrorContext(r.Context(), "write worklist CSV", "error", err)
	}
}

// claimsCSV is the page's "claims (CSV)" link of an alert.
func (s *Server) claimsCSV(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	v, _ := s.viewerOf(r)
	if err != nil || !v.mayView(id) {
		s.pageError(w, r, http.StatusNotFound, "Not found.")
		return
	}
	wr, err := worklistRequest(r, id, r.URL.Query().Get("payer"), r.URL.Query().Get("cpt_group"))
	if err != nil {
		s.pageError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	page, err := worklist.List(r.Context(), store.New(s.cfg.Pool), wr)
	if status, _ := worklistStatus(err); status != 0 {
		s.pageError(w, r, status, err.Error())
		return
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	s.writeWorklistCSV(w, r, wr, page)
}
