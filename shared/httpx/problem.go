package httpx

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
)

// Problem is an RFC 9457 problem details object. It is also an error, so handlers and helpers can
// return one and let WriteError render it.
type Problem struct {
	Type     string         `json:"type,omitempty"` // a URI; "about:blank" when omitted
	Title    string         `json:"title"`
	Status   int            `json:"status"`
	Detail   string         `json:"detail,omitempty"`
	Instance string         `json:"instance,omitempty"`
	Ext      map[string]any `json:"-"` // extension members, written at the top level
}

// NewProblem makes a problem whose title is the status text.
func NewProblem(status int, detail string) *Problem {
	return &Problem{Title: http.StatusText(status), Status: status, Detail: detail}
}

// Problemf is NewProblem with a formatted detail.
func Problemf(status int, format string, args ...any) *Problem {
	return NewProblem(status, fmt.Sprintf(format, args...))
}

func (p *Problem) Error() string { return fmt.Sprintf("%d %s: %s", p.Status, p.Title, p.Detail) }

// With adds an extension member (e.g. "errors", "retry_after") and returns p.
func (p *Problem) With(key string, v any) *Problem {
	if p.Ext == nil {
		p.Ext = map[string]any{}
	}
	p.Ext[key] = v
	return p
}

// MarshalJSON writes the standard members and the extensions side by side, as RFC 9457 §3.2 asks.
func (p *Problem) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, len(p.Ext)+5)
	for k, v := range p.Ext {
		m[k] = v
	}
	m["type"] = p.Type
	if p.Type == "" {
		m["type"] = "about:blank"
	}
	m["title"], m["status"] = p.Title, p.Status
	if p.Detail != "" {
		m["detail"] = p.Detail
	}
	if p.Instance != "" {
		m["instance"] = p.Instance
	}
	return json.Marshal(m)
}

// WriteProblem sends p as application/problem+json.
func WriteProblem(w http.ResponseWriter, r *http.Request, p *Problem) {
	if p.Instance == "" && r != nil {
		p.Instance = r.URL.Path
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// WriteError is the one place an error becomes an HTTP response: a *Problem anywhere in err's
// chain is sent as is; anything else is a 500 whose detail hides the internals, logged here once.
func WriteError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	var p *Problem
	if errors.As(err, &p) {
		if p.Status >= 500 && logger != nil {
			logger.ErrorContext(r.Context(), "request failed", "err", err)
		}
		WriteProblem(w, r, p)
		return
	}
	if logger != nil {
		logger.ErrorContext(r.Context(), "request failed", "err", err)
	}
	WriteProblem(w, r, NewProblem(http.StatusInternalServerError, "internal error; the request ID identifies it in the logs"))
}

// WriteJSON sends v as JSON with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// DecodeJSON reads exactly one JSON value from the request body into dst. It rejects, as problems:
// a non-JSON content type (415), a body over the server's limit (413), unknown fields, malformed
// JSON, wrong types and trailing data (400) — each with a detail that names what was wrong.
func DecodeJSON(r *http.Request, dst any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return Problemf(http.StatusUnsupportedMediaType, "content type %q: send application/json", ct)
		}
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeProblem(err)
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return decodeProblem(err)
		}
		return NewProblem(http.StatusBadRequest, "body must hold a single JSON value")
	}
	return nil
}

func decodeProblem(err error) *Problem {
	var (
		tooBig *http.MaxBytesError
		syn    *json.SyntaxError
		typ    *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &tooBig):
		return Problemf(http.StatusRequestEntityTooLarge, "body is larger than %d bytes", tooBig.Limit)
	case errors.Is(err, io.EOF):
		return NewProblem(http.StatusBadRequest, "body is empty; send a JSON value")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return NewProblem(http.StatusBadRequest, "body ends in the middle of a JSON value")
	case errors.As(err, &syn):
		return Problemf(http.StatusBadRequest, "malformed JSON at byte %d: %v", syn.Offset, syn)
	case errors.As(err, &typ):
		return Problemf(http.StatusBadRequest, "field %q must be %s, not JSON %s", typ.Field, typ.Type, typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// encoding/json has no typed error for this one; its message is stable and names the field.
		return Problemf(http.StatusBadRequest, "unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	default:
		return Problemf(http.StatusBadRequest, "invalid JSON body: %v", err)
	}
}
