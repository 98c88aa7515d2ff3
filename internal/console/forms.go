package console

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/privlink/privlink/internal/api"
)

// form carries submitted values back into a re-rendered form, with errors
// next to the fields they concern and the rest on top.
type form struct {
	Values url.Values
	Errors map[string]string
	Top    string
}

func newForm(v url.Values) *form {
	if v == nil {
		v = url.Values{}
	}
	return &form{Values: v, Errors: map[string]string{}}
}

// newCreateForm is an empty form with a fresh clientToken, so that a
// resubmitted form (back button, double click) creates nothing twice.
func newCreateForm() *form {
	f := newForm(nil)
	f.Values.Set("clientToken", randomID()[:32])
	return f
}

// Get is the trimmed value of field k.
func (f *form) Get(k string) string { return strings.TrimSpace(f.Values.Get(k)) }

// Raw is the untrimmed value (textareas).
func (f *form) Raw(k string) string { return f.Values.Get(k) }

// Err is the error message of field k, if any.
func (f *form) Err(k string) string { return f.Errors[k] }

// Checked reports whether checkbox k was ticked.
func (f *form) Checked(k string) bool { return f.Values.Get(k) != "" }

// Is reports whether field k has value v (selects, radios).
func (f *form) Is(k, v string) bool { return f.Get(k) == v }

func (f *form) fail(field, msg string) {
	if _, ok := f.Errors[field]; !ok {
		f.Errors[field] = msg
	}
}

func (f *form) ok() bool { return len(f.Errors) == 0 && f.Top == "" }

// fieldMap maps an API error code (or the field suffix of an
// InvalidParameter.<Field> code) to the form field it concerns.
type fieldMap map[string]string

// apiFail puts err next to its field, or on top of the form.
func (f *form) apiFail(err error, fields fieldMap) {
	var ae *api.Error
	if !errors.As(err, &ae) {
		f.Top = err.Error()
		return
	}
	if ae.Code == "IdempotentParameterMismatch" {
		f.Top = "This form was already submitted with other values. Check the list first; submitting again now creates a new resource."
		f.Values.Set("clientToken", randomID()[:32])
		return
	}
	if field := fields.lookup(ae.Code); field != "" {
		f.fail(field, ae.Message)
		return
	}
	f.Top = ae.Message + " (" + ae.Code + ")"
}

func (m fieldMap) lookup(code string) string {
	if v, ok := m[code]; ok {
		return v
	}
	suffix, ok := strings.CutPrefix(code, "InvalidParameter.")
	if !ok {
		suffix, ok = strings.CutPrefix(code, "MissingParameter.")
	}
	if !ok {
		return ""
	}
	for s := suffix; s != ""; {
		if v, ok := m[s]; ok {
			return v
		}
		i := strings.LastIndexByte(s, '.')
		if i < 0 {
			break
		}
		s = s[:i]
	}
	return ""
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

// safeNext accepts only console-local redirect targets.
func safeNext(next string) string {
	if strings.HasPrefix(next, "/console/") && !strings.HasPrefix(next, "//") && !strings.ContainsAny(next, "\\\r\n") {
		return next
	}
	return "/console/services"
}

// esc escapes one path segment of a console URL (IDs are safe, form input is not).
func esc(s string) string { return url.PathEscape(s) }
