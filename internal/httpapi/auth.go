package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/upstream-rcm/upstream/internal/customers"
	"github.com/upstream-rcm/upstream/internal/db"
	"github.com/upstream-rcm/upstream/internal/store"
)

// principal is who a request authenticated as.
type principal struct {
	admin      bool
	customerID int64  // for customer keys
	keyPrefix  string // for customer keys: how changes name their actor
}

// actor names who made a change: "admin" or the customer key's prefix.
func (p principal) actor() string {
	if p.admin {
		return "admin"
	}
	return p.keyPrefix
}

type principalKey struct{}

// principalOf returns who the request authenticated as (set by
// forCustomer).
func principalOf(r *http.Request) principal {
	p, _ := r.Context().Value(principalKey{}).(principal)
	return p
}

// authenticate resolves the Bearer key: the admin key, or a customer key.
// ok is false (and a 401 written) when the key is missing or invalid.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (principal, bool) {
	h := r.Header.Get("Authorization")
	key, found := bearerToken(h)
	if !found || key == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="upstream"`)
		writeError(w, http.StatusUnauthorized, "unauthorized", "missing API key: send Authorization: Bearer KEY", nil)
		return principal{}, false
	}
	if s.isAdmin(r) {
		return principal{admin: true}, true
	}
	id, err := customers.CustomerForAPIKey(r.Context(), store.New(s.cfg.Pool), key)
	if errors.Is(err, customers.ErrInvalidAPIKey) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="upstream", error="invalid_token"`)
		writeError(w, http.StatusUnauthorized, "unauthorized", "invalid API key", nil)
		return principal{}, false
	}
	if err != nil {
		s.internalError(w, r, err)
		return principal{}, false
	}
	return principal{customerID: id, keyPrefix: customers.KeyPrefix(key)}, true
}

func (s *Server) internalError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		// The client went away and cancelled the work: not our failure.
		s.cfg.Logger.InfoContext(r.Context(), "request aborted by the client", "request_id", requestID(r.Context()), "error", err)
		writeError(w, http.StatusServiceUnavailable, "aborted", "request aborted", nil)
		return
	}
	s.cfg.Logger.ErrorContext(r.Context(), "request failed", "request_id", requestID(r.Context()), "error", err)
	writeError(w, http.StatusInternalServerError, "internal", "internal error (request "+requestID(r.Context())+")", nil)
}

// adminOnly wraps handlers of the admin key.
func (s *Server) adminOnly(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, ok := s.authenticate(w, r)
		if !ok {
			return
		}
		if !p.admin {
			// A customer key may not manage its own customer's keys either;
			// for another customer's path it must not learn it exists.
			if id, err := strconv.ParseInt(r.PathValue("id"), 10, 64); err == nil && id != p.customerID {
				writeError(w, http.StatusNotFound, "not_found", "not found", nil)
				return
			}
			writeError(w, http.StatusForbidden, "forbidden", "this endpoint needs the admin key", nil)
			return
		}
		next(w, r)
	}
}

// customerHandler is a handler of one customer's resources.
type customerHandler func(w http.ResponseWriter, r *http.Request, cust db.Customer)

// forCustomer authenticates, and answers 404 for any customer the key may
// not see, exactly as for one that does not exist.
func (s *Server) forCustomer(next customerHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, ok := s.authenticate(w, r)
		if !ok {
			return
		}
		id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
		if err != nil || (!p.admin && id != p.customerID) {
			writeError(w, http.StatusNotFound, "not_found", "customer not found", nil)
			return
		}
		cust, err := customers.ByID(r.Context(), store.New(s.cfg.Pool), id)
		if errors.Is(err, customers.ErrNotFound) {
			writeError(w, http.StatusNotFound, "not_found", "customer not found", nil)
			return
		}
		if err != nil {
			s.internalError(w, r, err)
			return
		}
		next(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)), cust)
	}
}
