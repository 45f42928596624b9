package httpapi

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/upstream-rcm/upstream/internal/db"
	"github.com/upstream-rcm/upstream/internal/ingest"
)

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
