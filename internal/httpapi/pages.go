package httpapi

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// Every list the API returns is a page: ?limit, DefaultPageSize by
// default and at most MaxPageSize, and an opaque next_cursor (null on the
// last page) that the next request passes as ?cursor.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
	// maxCursorBytes bounds a cursor: it is read from the query string.
	maxCursorBytes = 1024
)

// pageParams reads ?limit and ?cursor; ok is false (and a 400 written)
// when either is invalid.
func pageParams(w http.ResponseWriter, r *http.Request) (limit int, cursor *string, ok bool) {
	limit = DefaultPageSize
	q := r.URL.Query()
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxPageSize {
			writeError(w, http.StatusBadRequest, "invalid_request", fmt.Sprintf("limit must be 1..%d", MaxPageSize), nil)
			return 0, nil, false
		}
		limit = n
	}
	if q.Has("cursor") {
		c := q.Get("cursor")
		if c == "" || len(c) > maxCursorBytes {
			badCursor(w)
			return 0, nil, false
		}
		cursor = &c
	}
	return limit, cursor, true
}

// encodeCursor packs a position (its parts, without NUL bytes) into an
// opaque cursor.
func encodeCursor(parts ...string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strings.Join(parts, "\x00")))
}

// decodeCursor unpacks a cursor of n parts; it always returns n parts,
// empty on error, so callers can parse them before checking err.
func decodeCursor(c string, n int) ([]string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	parts := strings.Split(string(b), "\x00")
	if err != nil || len(parts) != n {
		return make([]string, n), errors.New("invalid cursor")
	}
	return parts, nil
}

// idCursor reads ?cursor as a cursor naming an id (0 when there is none);
// ok is false (and a 400 written) when it is not one.
func idCursor(w http.ResponseWriter, r *http.Request) (int64, bool) {
	q := r.URL.Query()
	if !q.Has("cursor") {
		return 0, true
	}
	p, err := decodeCursor(q.Get("cursor"), 1)
	n, perr := strconv.ParseInt(p[0], 10, 64)
	if err != nil || perr != nil || n < 1 {
		badCursor(w)
		return 0, false
	}
	return n, true
}

// nextIDCursor is the cursor of the page after the item with id; nil for
// 0, the last page.
func nextIDCursor(id int64) *string {
	if id == 0 {
		return nil
	}
	c := encodeCursor(strconv.FormatInt(id, 10))
	return &c
}

// badCursor answers a cursor this list did not give.
func badCursor(w http.ResponseWriter) {
	writeError(w, http.StatusBadRequest, "invalid_request", "cursor is not a next_cursor of this list", nil)
}
