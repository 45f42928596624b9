package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/upstream-rcm/upstream/internal/db"
	"github.com/upstream-rcm/upstream/internal/secrets"
	"github.com/upstream-rcm/upstream/internal/store"
	"github.com/upstream-rcm/upstream/internal/webhooks"
)

func (s *Server) routesWebhooks() {
	s.mux.HandleFunc("POST /api/v1/customers/{id}/webhooks", s.forCustomer(s.createWebhook))
	s.mux.HandleFunc("GET /api/v1/customers/{id}/webhooks", s.forCustomer(s.listWebhooks))
	s.mux.HandleFunc("DELETE /api/v1/customers/{id}/webhooks/{webhook_id}", s.forCustomer(s.deleteWebhook))
	s.mux.HandleFunc("POST /api/v1/customers/{id}/webhooks/{webhook_id}/rotate", s.forCustomer(s.rotateWebhook))
	s.mux.HandleFunc("POST /api/v1/customers/{id}/webhooks/{webhook_id}/disable", s.forCustomer(s.setWebhookEnabled(false)))
	s.mux.HandleFunc("POST /api/v1/customers/{id}/webhooks/{webhook_id}/enable", s.forCustomer(s.setWebhookEnabled(true)))
	s.mux.HandleFunc("POST /api/v1/customers/{id}/webhooks/{webhook_id}/test", s.forCustomer(s.testWebhook))
	s.mux.HandleFunc("GET /api/v1/customers/{id}/webhooks/{webhook_id}/deliveries", s.forCustomer(s.listWebhookDeliveries))
}

// webhookID reads the path's endpoint id; a malformed one is a 404 like a
// missing one.
func webhookID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("webhook_id"), 10, 64)
	if err != nil || id < 1 {
		writeError(w, http.StatusNotFound, "not_found", "webhook endpoint not found", nil)
		return 0, false
	}
	return id, true
}

// webhookError writes the response for a webhooks error.
func (s *Server) webhookError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, webhooks.ErrEndpointNotFound) {
		writeError(w, http.StatusNotFound, "not_found", "webhook endpoint not found", nil)
		return
	}
	s.internalError(w, r, err)
}

func (s *Server) createWebhook(w http.ResponseWriter, r *http.Request, cust db.Customer) {
	var body struct {
		URL             string  `json:"url"`
		Format          string  `json:"format"`
		MinSeverity     float64 `json:"min_severity"`
		RepeatAfterDays int     `json:"repeat_after_days"`
		Digest          string  `json:"digest"`
	}
	if !decodeJSON(w, r, &body) {
		return
	}
	spec := webhooks.EndpointSpec{URL: body.URL, Format: body.Format, MinSeverity: body.MinSeverity, RepeatAfterDays: body.RepeatAfterDays, Digest: body.Digest}
	// Validation resolves the host: bounded, like any request.
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	if err := spec.Validate(ctx, s.cfg.WebhookGuard); err != nil {
		msg := err.Error()
		if errors.Is(err, webhooks.ErrForbiddenDestination) {
			msg += "; the server's operator can allow private destinations (upstream serve --allow-private-webhooks)"
		}
		writeError(w, http.StatusUnprocessableEntity, "invalid_webhook", msg, nil)
		return
	}
	ep, secret, err := webhooks.CreateEndpoint(r.Context(), store.New(s.cfg.Pool), s.cfg.Keyring, s.cfg.WebhookGuard, cust.ID, spec)
	if errors.Is(err, webhooks.ErrNoSecretKey) {
		s.noSecretKey(w, r, err)
		return
	}
	if err != nil {
		writeError(w, http.StatusUnprocessableEntity, "invalid_webhook", err.Error(), nil)
		return
	}
	view := webhooks.ViewEndpoint(ep)
	view.Secret = secret // shown once
	writeJSON(w, http.StatusCreated, view)
}

func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request, cust db.Customer) {
	eps, err := store.New(s.cfg.Pool).WebhookEndpointListByCustomer(r.Context(), cust.ID)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	views := make([]webhooks.EndpointView, len(eps))
	for i, ep := range eps {
		views[i] = webhooks.ViewEndpoint(ep)
	}
	writeJSON(w, http.StatusOK, map[string]any{"webhooks": views})
}

func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request, cust db.Customer) {
	id, ok := webhookID(w, r)
	if !ok {
		return
	}
	if err := webhooks.DeleteEndpoint(r.Context(), store.New(s.cfg.Pool), cust.ID, id); err != nil {
		s.webhookError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) rotateWebhook(w http.ResponseWriter, r *http.Request, cust db.Customer) {
	id, ok := webhookID(w, r)
	if !ok {
		return
	}
	ep, secret, err := webhooks.RotateSecret(r.Context(), store.New(s.cfg.Pool), s.cfg.Keyring, cust.ID, id, time.Now())
	if errors.Is(err, webhooks.ErrNoSecretKey) {
		s.noSecretKey(w, r, err)
		return
	}
	if err != nil {
		s.webhookError(w, r, err)
		return
	}
	view := webhooks.ViewEndpoint(ep)
	view.Secret = secret
	writeJSON(w, http.StatusOK, map[string]any{"webhook": view, "previous_secret_valid_until": ep.PreviousSecretExpiresAt})
}

func (s *Server) setWebhookEnabled(enabled bool) customerHandler {
	return func(w http.ResponseWriter, r *http.Request, cust db.Customer) {
		id, ok := webhookID(w, r)
		if !ok {
			return
		}
		ep, err := webhooks.SetEnabled(r.Context(), store.New(s.cfg.Pool), cust.ID, id, enabled)
		if err != nil {
			s.webhookError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, webhooks.ViewEndpoint(ep))
	}
}

func (s *Server) testWebhook(w http.ResponseWriter, r *http.Request, cust db.Customer) {
	id, ok := webhookID(w, r)
	if !ok {
		return
	}
	sent, err := webhooks.SendTest(r.Context(), s.cfg.Pool, s.jobs, cust, id, time.Now())
	if err != nil {
		s.webhookError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, sent)
}

func (s *Server) listWebhookDeliveries(w http.ResponseWriter, r *http.Request, cust db.Customer) {
	id, ok := webhookID(w, r)
	if !ok {
		return
	}
	limit := 50
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > webhooks.MaxDeliveriesListed {
			writeError(w, http.StatusBadRequest, "invalid_request", "limit must be 1.."+strconv.Itoa(webhooks.MaxDeliveriesListed), nil)
			return
		}
		limit = n
	}
	before, ok := idCursor(w, r)
	if !ok {
		return
	}
	deliveries, err := webhooks.ListDeliveries(r.Context(), store.New(s.cfg.Pool), cust.ID, id, before, limit+1)
	if err != nil {
		s.webhookError(w, r, err)
		return
	}
	var next int64
	if len(deliveries) > limit {
		deliveries = deliveries[:limit]
		next = deliveries[limit-1].ID
	}
	writeJSON(w, http.StatusOK, map[string]any{"deliveries": deliveries, "next_cursor": nextIDCursor(next)})
}

// noSecretKey answers a request that needs the server key when the
// operator configured none: the server's fault, not the request's.
func (s *Server) noSecretKey(w http.ResponseWriter, r *http.Request, err error) {
	s.cfg.Logger.ErrorContext(r.Context(), "webhook secrets cannot be sealed", "error", err)
	writeError(w, http.StatusServiceUnavailable, "no_secret_key", "the server has no key to seal webhook secrets; its operator must set "+secrets.EnvVar, nil)
}
