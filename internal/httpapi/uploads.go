package httpapi

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/upstream-rcm/upstream/internal/db"
	"github.com/upstream-rcm/upstream/internal/ingest"
	"github.com/upstream-rcm/upstream/internal/metrics"
	"github.com/upstream-rcm/upstream/internal/store"
)

func (s *Server) createUpload(w http.ResponseWriter, r *http.Request, cust db.Customer) {
	filename := strings.TrimSpace(r.URL.Query().Get("filename"))
	if filename == "" {
		writeError(w, http.StatusBadRequest, "invalid_request", "query parameter filename is required", nil)
		return
	}
	format, ok := uploadFormat(r.Header.Get("Content-Type"))
	if !ok {
		writeError(w, http.StatusUnsupportedMediaType, "unsupported_media_type",
			"upload the file as Content-Type: text/csv or application/edi-x12 (an 835)", nil)
		return
	}
	maxBytes := s.maxUploadBytes()
	if r.ContentLength > maxBytes {
		metrics.Uploads.WithLabelValues("too_large").Inc()
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("file of %d bytes exceeds the limit of %d", r.ContentLength, maxBytes), nil)
		return
	}
	release, ok := s.uploads.acquire(cust.ID)
	if !ok {
		metrics.Uploads.WithLabelValues("busy").Inc()
		w.Header().Set("Retry-After", "10")
		// Without it net/http would first read the unread body to keep the
		// connection: from a stalled client, forever.
		w.Header().Set("Connection", "close")
		writeError(w, http.StatusTooManyRequests, "too_many_uploads", fmt.Sprintf(
			"too many uploads in flight (at most %d per customer, %d in all): retry when one has finished", s.cfg.MaxUploadsPerCustomer, s.cfg.MaxUploads), nil)
		return
	}
	defer release()
	// Large files take time: this request's read and write deadlines are
	// long (the server's defaults stay short), but a body may not stall.
	rc := http.NewResponseController(w)
	deadline := time.Now().Add(s.cfg.UploadTimeout)
	_ = rc.SetWriteDeadline(deadline.Add(time.Minute))
	body := bufio.NewReaderSize(&stallReader{body: r.Body, rc: rc, stall: s.cfg.UploadStallTimeout, deadline: deadline}, 64<<10)
	// The upload's transaction (a pooled connection) starts only once the
	// body has begun: headers sent with no body hold nothing.
	if _, err := body.Peek(1); err != nil && !errors.Is(err, io.EOF) {
		s.uploadBodyFailed(w, r, cust, err)
		return
	}

	var err error
	opts := &ingest.UploadOptions{MaxBytes: maxBytes, ClaimIDColumn: r.URL.Query().Get("claim_id_column"), Format: format,
		MaxStatRows: s.cfg.MaxStatRows}
	if opts.Overlap, err = ingest.ParseOverlapMode(r.URL.Query().Get("overlap")); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", err.Error(), nil)
		return
	}
	if len(opts.ClaimIDColumn) > 200 {
		writeError(w, http.StatusBadRequest, "invalid_request", "claim_id_column is longer than 200 bytes", nil)
		return
	}
	if opts.DateFormat, err = ingest.ParseDateFormat(r.URL.Query().Get("date_format")); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", err.Error(), nil)
		return
	}
	if v := r.URL.Query().Get("allow_rejects"); v != "" {
		if opts.AllowRejects, err = strconv.ParseBool(v); err != nil {
			writeError(w, http.StatusBadRequest, "invalid_request", "allow_rejects must be true or false", nil)
			return
		}
	}
	up, err := s.ingest.Upload(r.Context(), cust.ID, filename, body, opts)
	var dup *ingest.DuplicateError
	var header *ingest.HeaderError
	var noRows *ingest.NoValidRowsError
	var tooMany *ingest.TooManyRejectsError
	var order *ingest.DateOrderError
	var overlap *ingest.OverlapError
	switch {
	case errors.As(err, &tooMany):
		metrics.Uploads.WithLabelValues("invalid").Inc()
		writeError(w, http.StatusUnprocessableEntity, "too_many_rejects", err.Error()+" (allow_rejects=true)", tooMany.Stats.Errors)
	case errors.As(err, &order):
		metrics.Uploads.WithLabelValues("invalid").Inc()
		msg := err.Error()
		if order.DayFirst {
			msg += " (date_format=DD/MM/YYYY)"
		}
		writeError(w, http.StatusUnprocessableEntity, "date_order", msg, []ingest.RowError{})
	case errors.As(err, &overlap):
		metrics.Uploads.WithLabelValues("invalid").Inc()
		writeError(w, http.StatusConflict, "overlap", err.Error()+" (claim_id column, overlap=replace or overlap=append)", overlap.Overlaps)
	case errors.As(err, &dup):
		metrics.Uploads.WithLabelValues("duplicate").Inc()
		writeError(w, http.StatusConflict, "duplicate_upload", err.Error(), map[string]any{"duplicate_of": dup.First.ID, "filename": dup.First.Filename})
	case errors.Is(err, ingest.ErrTooLarge):
		metrics.Uploads.WithLabelValues("too_large").Inc()
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", err.Error(), nil)
	case errors.As(err, new(*ingest.RecordTooLongError)):
		metrics.Uploads.WithLabelValues("invalid").Inc()
		writeError(w, http.StatusUnprocessableEntity, "record_too_long", err.Error(), nil)
	case errors.As(err, &header), errors.Is(err, ingest.ErrNoHeader):
		metrics.Uploads.WithLabelValues("invalid").Inc()
		writeError(w, http.StatusUnprocessableEntity, "invalid_file", err.Error(), []ingest.RowError{})
	case errors.As(err, &noRows):
		metrics.Uploads.WithLabelValues("invalid").Inc()
		writeError(w, http.StatusUnprocessableEntity, "invalid_file", err.Error(), noRows.Stats.Errors)
	case errors.Is(err, ingest.ErrCustomerNotFound): // deleted meanwhile
		writeError(w, http.StatusNotFound, "not_found", "customer not found", nil)
	case err != nil && bodyFailed(r, err):
		s.uploadBodyFailed(w, r, cust, err)
	case err != nil:
		metrics.Uploads.WithLabelValues("failed").Inc()
		s.internalError(w, r, err)
	default:
		metrics.Uploads.WithLabelValues("stored").Inc()
		metrics.UploadRows.WithLabelValues("accepted").Add(float64(up.Accepted))
		metrics.UploadRows.WithLabelValues("rejected").Add(float64(up.Rejected))
		s.cfg.Logger.InfoContext(r.Context(), "upload stored", "request_id", requestID(r.Context()), "customer_id", cust.ID,
			"upload_id", up.ID, "accepted", up.Accepted, "rejected", up.Rejected, "job_id", up.JobID)
		for i := range up.Notices {
			up.Notices[i].Fix = noticeFix(up.Notices[i].Code, cust.ID)
		}
		writeJSON(w, http.StatusCreated, up)
	}
}

// noticeFix is how an API client fixes what an upload notice says.
func noticeFix(code ingest.NoticeCode, customerID int64) string {
	switch code {
	case ingest.NoticeNoMappings, ingest.NoticeMostlyOther:
		return fmt.Sprintf("PUT /api/v1/customers/%d/mappings/cpt-groups?reclassify=true (and .../mappings/payers)", customerID)
	}
	return ""
}

// bodyFailed tells an upload that failed because of its body's transport
// (a stall, the upload timeout, a client that went away) from our failures.
func bodyFailed(r *http.Request, err error) bool {
	return errors.Is(err, errBodyStalled) || errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF) ||
		r.Context().Err() != nil
}

// uploadBodyFailed answers an upload whose body did not arrive: nothing
// was stored (the transaction rolled back). A stall or the upload timeout
// is a 408; a client that went away is logged as an abort, not an error,
// and its answer goes nowhere.
func (s *Server) uploadBodyFailed(w http.ResponseWriter, r *http.Request, cust db.Customer, err error) {
	w.Header().Set("Connection", "close") // the rest of the body is not worth waiting for
	switch {
	case errors.Is(err, errBodyStalled):
		metrics.Uploads.WithLabelValues("stalled").Inc()
		s.cfg.Logger.InfoContext(r.Context(), "upload body stalled", "request_id", requestID(r.Context()), "customer_id", cust.ID, "stall_timeout", s.cfg.UploadStallTimeout)
		writeError(w, http.StatusRequestTimeout, "upload_stalled", fmt.Sprintf("the upload sent no bytes for %s: nothing was stored", s.cfg.UploadStallTimeout), nil)
	case errors.Is(err, os.ErrDeadlineExceeded):
		metrics.Uploads.WithLabelValues("stalled").Inc()
		s.cfg.Logger.InfoContext(r.Context(), "upload timed out", "request_id", requestID(r.Context()), "customer_id", cust.ID, "upload_timeout", s.cfg.UploadTimeout)
		writeError(w, http.StatusRequestTimeout, "upload_timeout", fmt.Sprintf("the upload took longer than %s: nothing was stored", s.cfg.UploadTimeout), nil)
	default:
		metrics.Uploads.WithLabelValues("aborted").Inc()
		s.cfg.Logger.InfoContext(r.Context(), "upload aborted by the client", "request_id", requestID(r.Context()), "customer_id", cust.ID, "error", err)
		writeError(w, http.StatusBadRequest, "upload_aborted", "the upload body ended early: nothing was stored", nil)
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
	up, err := ingest.GetUpload(r.Context(), store.New(s.cfg.Pool), cust.ID, id)
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

func (s *Server) listUploads(w http.ResponseWriter, r *http.Request, cust db.Customer) {
	limit, before := 50, int64(0)
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > ingest.MaxUploadsListed {
			writeError(w, http.StatusBadRequest, "invalid_request", fmt.Sprintf("limit must be 1..%d", ingest.MaxUploadsListed), nil)
			return
		}
		limit = n
	}
	if v := r.URL.Query().Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, "invalid_request", "before must be an upload id", nil)
			return
		}
		before = n
	}
	ups, err := ingest.ListUploads(r.Context(), store.New(s.cfg.Pool), cust.ID, limit+1, before)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	var next *int64
	if len(ups) > limit {
		ups = ups[:limit]
		next = &ups[limit-1].ID
	}
	writeJSON(w, http.StatusOK, map[string]any{"uploads": ups, "next_before": next})
}

func (s *Server) deleteUpload(w http.ResponseWriter, r *http.Request, cust db.Customer) {
	id, err := strconv.ParseInt(r.PathValue("upload_id"), 10, 64)
	if err != nil || id < 1 {
		writeError(w, http.StatusNotFound, "not_found", "upload not found", nil)
		return
	}
	deleted, err := s.ingest.DeleteUpload(r.Context(), cust.ID, id)
	if errors.Is(err, ingest.ErrUploadNotFound) || errors.Is(err, ingest.ErrCustomerNotFound) {
		writeError(w, http.StatusNotFound, "not_found", "upload not found", nil)
		return
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	s.cfg.Logger.InfoContext(r.Context(), "upload deleted", "request_id", requestID(r.Context()), "customer_id", cust.ID, "upload_id", id)
	writeJSON(w, http.StatusOK, deleted)
}

// uploadFormat reads an upload's media type, in any case, with any
// parameters: text/csv and text/plain are CSV, application/edi-x12 an 835,
// none (or application/octet-stream) is detected from the content.
func uploadFormat(ct string) (string, bool) {
	if ct == "" {
		return "", true
	}
	mt, _, err := mime.ParseMediaType(ct)
	switch {
	case err != nil:
		return "", false
	case mt == "text/csv" || mt == "text/plain": // ParseMediaType lower-cases
		return ingest.FormatCSV, true
	case mt == "application/edi-x12":
		return ingest.FormatX12, true
	case mt == "application/octet-stream":
		return "", true
	}
	return "", false
}
