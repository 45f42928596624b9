package httpapi

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/upstream-rcm/upstream/internal/db"
	"github.com/upstream-rcm/upstream/internal/names"
	"github.com/upstream-rcm/upstream/internal/store"
	"github.com/upstream-rcm/upstream/internal/trends"
)

func (s *Server) getTrend(w http.ResponseWriter, r *http.Request, cust db.Customer) {
	q := r.URL.Query()
	payer, group := q.Get("payer"), q.Get("cpt_group")
	if payer == "" || group == "" {
		writeError(w, http.StatusBadRequest, "invalid_request", "payer and cpt_group are required", nil)
		return
	}
	weeks := trends.DefaultWeeks
	if v := q.Get("weeks"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > trends.MaxWeeks {
			writeError(w, http.StatusBadRequest, "invalid_request", "weeks must be 1.."+strconv.Itoa(trends.MaxWeeks), nil)
			return
		}
		weeks = n
	}
	asOf := time.Now()
	if v := q.Get("as_of"); v != "" {
		t, err := time.Parse(time.DateOnly, v)
		if err != nil || t.Year() < 1900 || t.Year() > 9000 {
			writeError(w, http.StatusBadRequest, "invalid_request", "as_of: use YYYY-MM-DD", nil)
			return
		}
		asOf = t
	}
	series, err := trends.WeeklySeries(r.Context(), store.New(s.cfg.Pool), cust.ID, payer, group, asOf, weeks)
	if errors.Is(err, names.ErrUnknown) {
		writeError(w, http.StatusNotFound, "not_found", err.Error(), nil)
		return
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, series)
}
