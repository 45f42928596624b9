package httpapi

import (
	"errors"
	"net/http"
	"time"

	"github.com/upstream-rcm/upstream/internal/alerts"
	"github.com/upstream-rcm/upstream/internal/db"
	"github.com/upstream-rcm/upstream/internal/drift"
	"github.com/upstream-rcm/upstream/internal/names"
	"github.com/upstream-rcm/upstream/internal/store"
	"github.com/upstream-rcm/upstream/internal/webhooks"
)

func (s *Server) routesAlerts() {
	s.mux.HandleFunc("GET /api/v1/customers/{id}/alerts", s.forCustomer(s.listAlerts))
	s.mux.HandleFunc("GET /api/v1/customers/{id}/alerts/history", s.forCustomer(s.alertHistory))
	s.mux.HandleFunc("POST /api/v1/customers/{id}/alerts/ack", s.forCustomer(s.changeAlert(alerts.Acknowledged)))
	s.mux.HandleFunc("POST /api/v1/customers/{id}/alerts/snooze", s.forCustomer(s.changeAlert(alerts.Snoozed)))
	s.mux.HandleFunc("POST /api/v1/customers/{id}/alerts/resolve", s.forCustomer(s.changeAlert(alerts.Resolved)))
}

func (s *Server) listAlerts(w http.ResponseWriter, r *http.Request, cust db.Customer) {
	limit, cursor, ok := pageParams(w, r)
	if !ok {
		return
	}
	var after *alerts.SubjectView
	if cursor != nil {
		p, err := decodeCursor(*cursor, 4)
		t, terr := time.Parse(time.RFC3339Nano, p[0])
		if err != nil || terr != nil {
			badCursor(w)
			return
		}
		after = &alerts.SubjectView{Subject: alerts.Subject{Payer: p[1], CPTGroup: p[2], DriftType: drift.Type(p[3])}, UpdatedAt: t}
	}
	subjects, err := alerts.List(r.Context(), store.New(s.cfg.Pool), cust.ID, after, limit+1)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	var next *string
	if len(subjects) > limit {
		subjects = subjects[:limit]
		last := subjects[limit-1]
		c := encodeCursor(last.UpdatedAt.Format(time.RFC3339Nano), last.Payer, last.CPTGroup, string(last.DriftType))
		next = &c
	}
	writeJSON(w, http.StatusOK, map[string]any{"alerts": subjects, "next_cursor": next})
}

// alertHistory is a subject's episodes with their transitions.
func (s *Server) alertHistory(w http.ResponseWriter, r *http.Request, cust db.Customer) {
	q := r.URL.Query()
	typ, err := drift.ParseType(q.Get("drift_type"))
	if err != nil || q.Get("payer") == "" || q.Get("cpt_group") == "" {
		writeError(w, http.StatusBadRequest, "invalid_request", "payer, cpt_group and drift_type (DENIAL_RATE or DECISION_TIME) are required", nil)
		return
	}
	before, ok := idCursor(w, r)
	if !ok {
		return
	}
	episodes, next, err := alerts.History(r.Context(), store.New(s.cfg.Pool), cust.ID,
		alerts.Subject{Payer: q.Get("payer"), CPTGroup: q.Get("cpt_group"), DriftType: typ}, before)
	switch {
	case errors.Is(err, names.ErrUnknown), errors.Is(err, alerts.ErrSubjectNotFound):
		writeError(w, http.StatusNotFound, "not_found", "no alert for this payer, CPT group and drift type", nil)
	case err != nil:
		s.internalError(w, r, err)
	default:
		writeJSON(w, http.StatusOK, map[string]any{"episodes": episodes, "next_cursor": nextIDCursor(next)})
	}
}

func (s *Server) changeAlert(to alerts.State) customerHandler {
	return func(w http.ResponseWriter, r *http.Request, cust db.Customer) {
		var body struct {
			Payer     string `json:"payer"`
			CPTGroup  string `json:"cpt_group"`
			DriftType string `json:"drift_type"`
			Note      string `json:"note"`
			Until     string `json:"until"`
		}
		if !decodeJSON(w, r, &body) {
			return
		}
		typ, err := drift.ParseType(body.DriftType)
		if err != nil {
			writeError(w, http.StatusUnprocessableEntity, "invalid_request", err.Error(), nil)
			return
		}
		change := alerts.Change{To: to, Note: body.Note, Actor: principalOf(r).actor()}
		if body.Until != "" {
			if change.Until, err = time.Parse(time.DateOnly, body.Until); err != nil {
				writeError(w, http.StatusUnprocessableEntity, "invalid_request", "until: use YYYY-MM-DD", nil)
				return
			}
		}
		subject := alerts.Subject{Payer: body.Payer, CPTGroup: body.CPTGroup, DriftType: typ}
		view, err := alerts.Update(r.Context(), s.cfg.Pool, webhooks.Notifier(s.jobs, cust.ID, "", time.Now()), cust.ID, subject, change, time.Now())
		switch {
		case errors.Is(err, names.ErrUnknown):
			writeError(w, http.StatusNotFound, "not_found", err.Error(), nil)
		case errors.Is(err, alerts.ErrSubjectNotFound):
			writeError(w, http.StatusNotFound, "not_found", "no alert for this payer, CPT group and drift type", nil)
		case errors.As(err, new(*alerts.ChangeError)):
			writeError(w, http.StatusUnprocessableEntity, "invalid_request", err.Error(), nil)
		case err != nil:
			s.internalError(w, r, err)
		default:
			writeJSON(w, http.StatusOK, view)
		}
	}
}
