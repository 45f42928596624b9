package httpapi

import (
	"fmt"
	"mime"
	"net/http"
	"reflect"
	"strings"
	"unicode/utf8"
)

// badText says what PostgreSQL text cannot hold in v, or "".
func badText(v string) string {
	switch {
	case strings.IndexByte(v, 0) >= 0:
		return "contains a NUL byte"
	case !utf8.ValidString(v):
		return "is not valid UTF-8"
	}
	return ""
}

// checkTextParams answers 400 for a request whose query parameters or
// form fields (names or values) hold a NUL byte or invalid UTF-8, naming
// the parameter, before any handler passes them to the database: every
// text parameter is checked here, once. JSON bodies are checked by
// decodeJSON (checkJSONText).
func checkTextParams(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if msg := badText(r.URL.Path); msg != "" {
			writeError(w, http.StatusBadRequest, "invalid_request", "the path "+msg, nil)
			return
		}
		params := r.URL.Query()
		if r.Method == http.MethodPost {
			if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/x-www-form-urlencoded" {
				r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
				if err := r.ParseForm(); err != nil {
					writeError(w, http.StatusBadRequest, "invalid_request", "unreadable form: "+err.Error(), nil)
					return
				}
				params = r.Form
			}
		}
		for name, values := range params {
			if msg := badText(name); msg != "" {
				writeError(w, http.StatusBadRequest, "invalid_request", fmt.Sprintf("a parameter name %s", msg), nil)
				return
			}
			for _, v := range values {
				if msg := badText(v); msg != "" {
					writeError(w, http.StatusBadRequest, "invalid_request", fmt.Sprintf("parameter %s %s", name, msg), map[string]string{"parameter": name})
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// maxFormBody bounds a page form's body.
const maxFormBody = 64 << 10

// checkJSONText returns the JSON name of the first string field of the
// decoded body (a struct pointer) that PostgreSQL text cannot hold, with
// the reason: JSON may escape a NUL (\u0000) into any string.
func checkJSONText(dst any) (field, msg string) {
	return walkStrings(reflect.ValueOf(dst), "")
}

func walkStrings(v reflect.Value, path string) (string, string) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			return walkStrings(v.Elem(), path)
		}
	case reflect.String:
		if msg := badText(v.String()); msg != "" {
			return path, msg
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			if !t.Field(i).IsExported() {
				continue
			}
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
			if name == "" {
				name = t.Field(i).Name
			}
			if path != "" {
				name = path + "." + name
			}
			if f, msg := walkStrings(v.Field(i), name); f != "" {
				return f, msg
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if f, msg := walkStrings(v.Index(i), fmt.Sprintf("%s[%d]", path, i)); f != "" {
				return f, msg
			}
		}
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			if f, msg := walkStrings(iter.Value(), path+"."+fmt.Sprint(iter.Key())); f != "" {
				return f, msg
			}
		}
	}
	return "", ""
}
