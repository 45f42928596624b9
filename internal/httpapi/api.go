package httpapi

import (
	"net/http"
	"strings"
)

// routesAPI registers the JSON API, one file per resource.
func (s *Server) routesAPI() {
	s.mux.HandleFunc("POST /api/v1/customers", s.adminOnly(s.createCustomer))
	s.mux.HandleFunc("POST /api/v1/customers/{id}/api-keys", s.adminOnly(s.createAPIKey))
	s.mux.HandleFunc("GET /api/v1/customers/{id}/api-keys", s.adminOnly(s.listAPIKeys))
	s.mux.HandleFunc("DELETE /api/v1/customers/{id}/api-keys/{prefix}", s.adminOnly(s.revokeAPIKey))
	s.mux.HandleFunc("PUT /api/v1/customers/{id}/mappings/cpt-groups", s.forCustomer(s.putMappings("cpt-groups")))
	s.mux.HandleFunc("PUT /api/v1/customers/{id}/mappings/payers", s.forCustomer(s.putMappings("payers")))
	s.mux.HandleFunc("POST /api/v1/customers/{id}/uploads", s.forCustomer(s.createUpload))
	s.mux.HandleFunc("GET /api/v1/customers", s.adminOnly(s.listCustomers))
	s.mux.HandleFunc("GET /api/v1/customers/{id}/uploads", s.forCustomer(s.listUploads))
	s.mux.HandleFunc("GET /api/v1/customers/{id}/uploads/{upload_id}", s.forCustomer(s.getUpload))
	s.mux.HandleFunc("DELETE /api/v1/customers/{id}/uploads/{upload_id}", s.forCustomer(s.deleteUpload))
	s.mux.HandleFunc("POST /api/v1/customers/{id}/drift-runs", s.forCustomer(s.createDriftRun))
	s.mux.HandleFunc("GET /api/v1/customers/{id}/report-runs", s.forCustomer(s.listReportRuns))
	s.mux.HandleFunc("GET /api/v1/customers/{id}/report-runs/{run_id}", s.forCustomer(s.getReportRun))
	s.mux.HandleFunc("GET /api/v1/customers/{id}/drift-events", s.forCustomer(s.listDriftEvents))
	s.mux.HandleFunc("GET /api/v1/customers/{id}/trend", s.forCustomer(s.getTrend))
	s.mux.HandleFunc("GET /api/v1/customers/{id}/subjects/{payer}/{cpt_group}/claims", s.forCustomer(s.getClaims))
	s.routesWebhooks()
	s.routesAlerts()
	s.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		// The path exists with other methods: 405 with Allow, not 404.
		var allowed []string
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete} {
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, pattern := s.mux.Handler(probe); pattern != "/api/" {
				allowed = append(allowed, m)
			}
		}
		if len(allowed) > 0 {
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed here; use "+strings.Join(allowed, " or "), nil)
			return
		}
		writeError(w, http.StatusNotFound, "not_found", "no such endpoint: "+r.Method+" "+r.URL.Path, nil)
	})
}
