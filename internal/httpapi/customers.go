package httpapi

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/upstream-rcm/upstream/internal/customers"
	"github.com/upstream-rcm/upstream/internal/db"
	"github.com/upstream-rcm/upstream/internal/store"
)

func (s *Server) createCustomer(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Name string `json:"name"`
	}
	if !decodeJSON(w, r, &body) {
		return
	}
	if strings.TrimSpace(body.Name) == "" {
		writeError(w, http.StatusUnprocessableEntity, "invalid_request", "name is required", nil)
		return
	}
	cust, err := customers.Create(r.Context(), s.cfg.Pool, body.Name)
	if errors.Is(err, customers.ErrExists) {
		writeError(w, http.StatusConflict, "customer_exists", err.Error(), nil)
		return
	}
	var nameErr *customers.NameError
	if errors.As(err, &nameErr) {
		writeError(w, http.StatusUnprocessableEntity, "invalid_request", "name: "+err.Error(), nil)
		return
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"id": cust.ID, "name": cust.Name})
}

// pathCustomer returns the existing customer of an admin path's {id}; ok
// is false (and a 404 or 500 written) otherwise.
func (s *Server) pathCustomer(w http.ResponseWriter, r *http.Request) (id int64, ok bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		writeError(w, http.StatusNotFound, "not_found", "customer not found", nil)
		return 0, false
	}
	if _, err := customers.ByID(r.Context(), store.New(s.cfg.Pool), id); errors.Is(err, customers.ErrNotFound) {
		writeError(w, http.StatusNotFound, "not_found", "customer not found", nil)
		return 0, false
	} else if err != nil {
		s.internalError(w, r, err)
		return 0, false
	}
	return id, true
}

func (s *Server) createAPIKey(w http.ResponseWriter, r *http.Request) {
	id, ok := s.pathCustomer(w, r)
	if !ok {
		return
	}
	key, err := customers.IssueAPIKey(r.Context(), store.New(s.cfg.Pool), id)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"key": key})
}

func (s *Server) listCustomers(w http.ResponseWriter, r *http.Request) {
	limit, cursor, ok := pageParams(w, r)
	if !ok {
		return
	}
	after := ""
	if cursor != nil {
		p, err := decodeCursor(*cursor, 1)
		if err != nil || p[0] == "" {
			badCursor(w)
			return
		}
		after = p[0]
	}
	rows, err := store.New(s.cfg.Pool).CustomerListWithLatestRun(r.Context(), db.CustomerListWithLatestRunParams{AfterName: after, MaxRows: int32(limit + 1)})
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	var next *string
	if len(rows) > limit {
		rows = rows[:limit]
		c := encodeCursor(rows[limit-1].Name)
		next = &c
	}
	out := make([]map[string]any, len(rows))
	for i, c := range rows {
		out[i] = map[string]any{"id": c.ID, "name": c.Name, "uploads": c.Uploads}
	}
	writeJSON(w, http.StatusOK, map[string]any{"customers": out, "next_cursor": next})
}

func (s *Server) listAPIKeys(w http.ResponseWriter, r *http.Request) {
	id, ok := s.pathCustomer(w, r)
	if !ok {
		return
	}
	limit, _, ok := pageParams(w, r)
	if !ok {
		return
	}
	after, ok := idCursor(w, r)
	if !ok {
		return
	}
	keys, err := customers.ListAPIKeys(r.Context(), store.New(s.cfg.Pool), id, after, limit+1)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	var next int64
	if len(keys) > limit {
		keys = keys[:limit]
		next = keys[limit-1].ID
	}
	writeJSON(w, http.StatusOK, map[string]any{"api_keys": keys, "next_cursor": nextIDCursor(next)})
}

func (s *Server) revokeAPIKey(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		writeError(w, http.StatusNotFound, "not_found", "customer not found", nil)
		return
	}
	err = customers.RevokeAPIKey(r.Context(), store.New(s.cfg.Pool), id, r.PathValue("prefix"))
	if errors.Is(err, customers.ErrAPIKeyNotFound) {
		writeError(w, http.StatusNotFound, "not_found", "no active API key with this prefix", nil)
		return
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
