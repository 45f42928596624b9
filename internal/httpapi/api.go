package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/upstream-rcm/upstream/internal/customers"
	"github.com/upstream-rcm/upstream/internal/db"
	"github.com/upstream-rcm/upstream/internal/drift"
	"github.com/upstream-rcm/upstream/internal/ingest"
	"github.com/upstream-rcm/upstream/internal/metrics"
	"github.com/upstream-rcm/upstream/jobs"
)

// principal is who a request authenticated as.
type principal struct {
	admin      bool
	customerID int64 // for customer keys
}

// authenticate resolves the Bearer key: the admin key, or a customer key.
// ok is false (and a 401 written) when the key is missing or invalid.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (principal, bool) {
	h := r.Header.Get("Authorization")
	key, found := strings.CutPrefix(h, "Bearer ")
	if !found || key == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="upstream"`)
		writeError(w, http.StatusUnauthorized, "unauthorized", "missing API key: send Authorization: Bearer KEY", nil)
		return principal{}, false
	}
	if s.isAdmin(r) {
		return principal{admin: true}, true
	}
	id, err := customers.CustomerForAPIKey(r.Context(), db.New(s.cfg.Pool), key)
	if errors.Is(err, customers.ErrInvalidAPIKey) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="upstream", error="invalid_token"`)
		writeError(w, http.StatusUnauthorized, "unauthorized", "invalid API key", nil)
		return principal{}, false
	}
	if err != nil {
		s.internalError(w, r, err)
		return principal{}, false
	}
	return principal{customerID: id}, true
}

func (s *Server) internalError(w http.ResponseWriter, r *http.Request, err error) {
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
		cust, err := customers.ByID(r.Context(), db.New(s.cfg.Pool), id)
		if errors.Is(err, customers.ErrNotFound) {
			writeError(w, http.StatusNotFound, "not_found", "customer not found", nil)
			return
		}
		if err != nil {
			s.internalError(w, r, err)
			return
		}
		next(w, r, cust)
	}
}

func (s *Server) routesAPI() {
	s.mux.HandleFunc("POST /api/v1/customers", s.adminOnly(s.createCustomer))
	s.mux.HandleFunc("POST /api/v1/customers/{id}/api-keys", s.adminOnly(s.createAPIKey))
	s.mux.HandleFunc("PUT /api/v1/customers/{id}/mappings/cpt-groups", s.forCustomer(s.putMappings("cpt-groups")))
	s.mux.HandleFunc("PUT /api/v1/customers/{id}/mappings/payers", s.forCustomer(s.putMappings("payers")))
	s.mux.HandleFunc("POST /api/v1/customers/{id}/uploads", s.forCustomer(s.createUpload))
	s.mux.HandleFunc("GET /api/v1/customers/{id}/uploads/{upload_id}", s.forCustomer(s.getUpload))
	s.mux.HandleFunc("POST /api/v1/customers/{id}/drift-runs", s.forCustomer(s.createDriftRun))
	s.mux.HandleFunc("GET /api/v1/customers/{id}/report-runs", s.forCustomer(s.listReportRuns))
	s.mux.HandleFunc("GET /api/v1/customers/{id}/report-runs/{run_id}", s.forCustomer(s.getReportRun))
	s.mux.HandleFunc("GET /api/v1/customers/{id}/drift-events", s.forCustomer(s.listDriftEvents))
	s.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such endpoint: "+r.Method+" "+r.URL.Path, nil)
	})
}

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
	cust, err := customers.Create(r.Context(), db.New(s.cfg.Pool), body.Name)
	if errors.Is(err, customers.ErrExists) {
		writeError(w, http.StatusConflict, "customer_exists", err.Error(), nil)
		return
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"id": cust.ID, "name": cust.Name})
}

func (s *Server) createAPIKey(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		writeError(w, http.StatusNotFound, "not_found", "customer not found", nil)
		return
	}
	q := db.New(s.cfg.Pool)
	if _, err := customers.ByID(r.Context(), q, id); errors.Is(err, customers.ErrNotFound) {
		writeError(w, http.StatusNotFound, "not_found", "customer not found", nil)
		return
	} else if err != nil {
		s.internalError(w, r, err)
		return
	}
	key, err := customers.IssueAPIKey(r.Context(), q, id)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"key": key})
}

func (s *Server) putMappings(kind string) customerHandler {
	return func(w http.ResponseWriter, r *http.Request, cust db.Customer) {
		body := http.MaxBytesReader(w, r.Body, 64<<20)
		var counts ingest.MappingCounts
		var err error
		if kind == "payers" {
			counts, err = ingest.ReplaceMappings(r.Context(), s.cfg.Pool, cust.ID, body, nil)
		} else {
			counts, err = ingest.ReplaceMappings(r.Context(), s.cfg.Pool, cust.ID, nil, body)
		}
		var mfe *ingest.MappingFileError
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &mfe):
			writeError(w, http.StatusUnprocessableEntity, "invalid_file", fmt.Sprintf("invalid %s mapping file", kind), mfe.Errors)
		case errors.As(err, &tooLarge):
			writeError(w, http.StatusRequestEntityTooLarge, "body_too_large", "mapping file too large", nil)
		case err != nil:
			s.internalError(w, r, err)
		default:
			writeJSON(w, http.StatusOK, counts)
		}
	}
}

func (s *Server) createUpload(w http.ResponseWriter, r *http.Request, cust db.Customer) {
	filename := strings.TrimSpace(r.URL.Query().Get("filename"))
	if filename == "" {
		writeError(w, http.StatusBadRequest, "invalid_request", "query parameter filename is required", nil)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "text/csv") && !strings.HasPrefix(ct, "text/plain") {
		writeError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "upload the file as Content-Type: text/csv", nil)
		return
	}
	maxBytes := s.maxUploadBytes()
	if r.ContentLength > maxBytes {
		metrics.Uploads.WithLabelValues("too_large").Inc()
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("file of %d bytes exceeds the limit of %d", r.ContentLength, maxBytes), nil)
		return
	}
	// Large files take time: this request's read and write deadlines are
	// long; the server's defaults stay short.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(s.cfg.UploadTimeout))
	_ = rc.SetWriteDeadline(time.Now().Add(s.cfg.UploadTimeout + time.Minute))

	uploader := &ingest.Uploader{Pool: s.cfg.Pool, EnqueueDrift: jobs.DriftEnqueuer(s.cfg.River), MaxBytes: maxBytes}
	up, err := uploader.Upload(r.Context(), cust.ID, filename, r.Body)
	var dup *ingest.DuplicateError
	var header *ingest.HeaderError
	var noRows *ingest.NoValidRowsError
	switch {
	case errors.As(err, &dup):
		metrics.Uploads.WithLabelValues("duplicate").Inc()
		writeError(w, http.StatusConflict, "duplicate_upload", err.Error(), map[string]any{"duplicate_of": dup.First.ID, "filename": dup.First.Filename})
	case errors.Is(err, ingest.ErrTooLarge):
		metrics.Uploads.WithLabelValues("too_large").Inc()
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", err.Error(), nil)
	case errors.As(err, &header), errors.Is(err, ingest.ErrNoHeader):
		metrics.Uploads.WithLabelValues("invalid").Inc()
		writeError(w, http.StatusUnprocessableEntity, "invalid_file", err.Error(), []ingest.RowError{})
	case errors.As(err, &noRows):
		metrics.Uploads.WithLabelValues("invalid").Inc()
		writeError(w, http.StatusUnprocessableEntity, "invalid_file", err.Error(), noRows.Stats.Errors)
	case err != nil:
		metrics.Uploads.WithLabelValues("failed").Inc()
		s.internalError(w, r, err)
	default:
		metrics.Uploads.WithLabelValues("stored").Inc()
		metrics.UploadRows.WithLabelValues("accepted").Add(float64(up.Accepted))
		metrics.UploadRows.WithLabelValues("rejected").Add(float64(up.Rejected))
		s.cfg.Logger.InfoContext(r.Context(), "upload stored", "request_id", requestID(r.Context()), "customer_id", cust.ID,
			"upload_id", up.ID, "accepted", up.Accepted, "rejected", up.Rejected, "job_id", up.JobID)
		writeJSON(w, http.StatusCreated, up)
	}
}

func (s *Server) maxUploadBytes() int64 {
	if s.cfg.MaxUploadBytes > 0 {
		return s.cfg.MaxUploadBytes
	}
	return ingest.DefaultMaxBytes
}

func (s *Server) getUpload(w http.ResponseWriter, r *http.Request, cust db.Customer) {
	id, err := strconv.ParseInt(r.PathValue("upload_id"), 10, 64)
	if err != nil {
		writeError(w, http.StatusNotFound, "not_found", "upload not found", nil)
		return
	}
	up, err := ingest.GetUpload(r.Context(), db.New(s.cfg.Pool), cust.ID, id)
	if errors.Is(err, ingest.ErrUploadNotFound) {
		writeError(w, http.StatusNotFound, "not_found", "upload not found", nil)
		return
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, up)
}

func (s *Server) createDriftRun(w http.ResponseWriter, r *http.Request, cust db.Customer) {
	var body struct {
		AsOf         *string `json:"as_of"`
		BaselineDays *int    `json:"baseline_days"`
		CurrentDays  *int    `json:"current_days"`
		MinVolume    *int    `json:"min_volume"`
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
	runs, err := db.New(s.cfg.Pool).ReportRunListByCustomer(r.Context(), db.ReportRunListByCustomerParams{
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
	run, err := drift.LoadRun(r.Context(), db.New(s.cfg.Pool), cust.ID, id)
	if errors.Is(err, drift.ErrRunNotFound) {
		writeError(w, http.StatusNotFound, "not_found", "report run not found", nil)
		return
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	s.writeRun(w, r, run, eventFilter{})
}

type eventFilter struct {
	payer       string
	driftType   drift.Type
	minSeverity float64
}

func (f eventFilter) keep(e drift.EventView) bool {
	return (f.payer == "" || strings.EqualFold(e.Payer, f.payer)) &&
		(f.driftType == "" || e.DriftType == f.driftType) && e.Severity >= f.minSeverity
}

func (s *Server) listDriftEvents(w http.ResponseWriter, r *http.Request, cust db.Customer) {
	q := r.URL.Query()
	f := eventFilter{payer: q.Get("payer")}
	if v := q.Get("drift_type"); v != "" {
		t, err := drift.ParseType(v)
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalid_request", "drift_type must be DENIAL_RATE or DECISION_TIME", nil)
			return
		}
		f.driftType = t
	}
	if v := q.Get("min_severity"); v != "" {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil || n < 0 || n > 1 {
			writeError(w, http.StatusBadRequest, "invalid_request", "min_severity must be a number from 0 to 1", nil)
			return
		}
		f.minSeverity = n
	}
	run, err := drift.LoadRun(r.Context(), db.New(s.cfg.Pool), cust.ID, 0)
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
