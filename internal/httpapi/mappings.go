package httpapi

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/upstream-rcm/upstream/internal/db"
	"github.com/upstream-rcm/upstream/internal/ingest"
)

func (s *Server) putMappings(kind string) customerHandler {
	return func(w http.ResponseWriter, r *http.Request, cust db.Customer) {
		body := http.MaxBytesReader(w, r.Body, 64<<20)
		var payers, groups io.Reader = body, nil
		if kind != "payers" {
			payers, groups = nil, body
		}
		reclassify := false
		if v := r.URL.Query().Get("reclassify"); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				writeError(w, http.StatusBadRequest, "invalid_request", "reclassify must be true or false", nil)
				return
			}
			reclassify = b
		}
		var counts ingest.MappingCounts
		var res *ingest.Reclassified
		var err error
		if reclassify {
			counts, res, err = s.ingest.ReplaceMappingsAndReclassify(r.Context(), cust.ID, payers, groups)
		} else {
			counts, err = ingest.ReplaceMappings(r.Context(), s.cfg.Pool, cust.ID, payers, groups)
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
		case res != nil:
			writeJSON(w, http.StatusOK, map[string]any{"payers": counts.Payers, "cpt_groups": counts.CPTGroups, "reclassified": res})
		default:
			writeJSON(w, http.StatusOK, counts)
		}
	}
}
