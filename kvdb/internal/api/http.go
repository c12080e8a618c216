// Package api serves the key-value store over HTTP (routes in routes.go). Values travel as raw
// bytes in request and response bodies; a key's version (the sequence number of the write that
// made it) travels as an ETag, so conditional writes are plain HTTP: If-Match for
// compare-and-set, If-None-Match: * for create-only.
package api

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"

	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/kv"
	"github.com/hyperscaledesignhub/DesignSystems/shared/httpx"
)

// Page sizes of GET /v1/kv.
const (
	defaultLimit = 100
	maxLimit     = 1000
)

// HTTP serves the API.
type HTTP struct {
	Store    *kv.Store
	Logger   *slog.Logger
	MaxValue int64 // longest value a PUT may send
}

// Item is a scanned entry or a batch result on the wire. Keys are strings when they are valid
// UTF-8 (key_base64 carries those that are not); values are always base64, as JSON strings
// cannot hold arbitrary bytes.
type Item struct {
	Key       string     `json:"key"`
	KeyBase64 string     `json:"key_base64,omitempty"`
	Value     []byte     `json:"value,omitempty"`
	Version   uint64     `json:"version"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// ScanResponse is one page of GET /v1/kv.
type ScanResponse struct {
	Items      []Item `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"` // pass as ?cursor= for the next page
}

// BatchRequest is POST /v1/batch: every operation or none.
type BatchRequest struct {
	Ops []BatchOp `json:"ops"`
}

// BatchOp is one operation: "put" (value base64, optional ttl like "30s") or "delete";
// if_version makes the whole batch conditional on the key's version (0: must not exist).
type BatchOp struct {
	Op        string  `json:"op"`
	Key       string  `json:"key"`
	Value     []byte  `json:"value,omitempty"`
	TTL       string  `json:"ttl,omitempty"`
	IfVersion *uint64 `json:"if_version,omitempty"`
}

// BatchResponse lists the version each operation wrote.
type BatchResponse struct {
	Versions []uint64 `json:"versions"`
}

func (h *HTTP) get(w http.ResponseWriter, r *http.Request) {
	key, err := pathKey(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	it, err := h.Store.Get(key)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	setVersionHeaders(w, it.Version, it.ExpiresAt)
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(it.Value)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(it.Value)
	}
}

func (h *HTTP) put(w http.ResponseWriter, r *http.Request) {
	key, err := pathKey(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var o kv.PutOptions
	if o.TTL, err = ttlParam(r.URL.Query().Get("ttl")); err != nil {
		h.fail(w, r, err)
		return
	}
	if o.IfVersion, err = condition(r); err != nil {
		h.fail(w, r, err)
		return
	}
	value, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.MaxValue))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.fail(w, r, httpx.Problemf(http.StatusRequestEntityTooLarge, "value over %d bytes (MAX_VALUE_BYTES)", h.MaxValue))
			return
		}
		h.fail(w, r, httpx.Problemf(http.StatusBadRequest, "reading the value: %v", err))
		return
	}
	version, exp, err := h.Store.Put(key, value, o)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	setVersionHeaders(w, version, exp)
	status := http.StatusOK
	if o.IfVersion != nil && *o.IfVersion == 0 {
		status = http.StatusCreated
	}
	w.WriteHeader(status)
}

func (h *HTTP) delete(w http.ResponseWriter, r *http.Request) {
	key, err := pathKey(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	ifVersion, err := condition(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if _, err := h.Store.Delete(key, ifVersion); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent) // deleting an absent key is not an error: DELETE is idempotent
}

func (h *HTTP) scan(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	o := kv.ScanOptions{Limit: defaultLimit}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLimit {
			h.fail(w, r, httpx.Problemf(http.StatusBadRequest, "limit %q: want an integer from 1 to %d", v, maxLimit))
			return
		}
		o.Limit = n
	}
	if q.Has("prefix") {
		if q.Has("start") || q.Has("end") {
			h.fail(w, r, httpx.NewProblem(http.StatusBadRequest, "prefix cannot be combined with start or end"))
			return
		}
		o.Prefix = []byte(q.Get("prefix"))
	}
	if q.Has("start") {
		o.Start = []byte(q.Get("start"))
	}
	if q.Has("end") {
		o.End = []byte(q.Get("end"))
	}
	if c := q.Get("cursor"); c != "" {
		after, err := base64.RawURLEncoding.DecodeString(c)
		if err != nil || len(after) == 0 {
			h.fail(w, r, httpx.NewProblem(http.StatusBadRequest, "cursor: not one this server returned"))
			return
		}
		o.After = after
	}
	page, more, err := h.Store.Scan(o)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	res := ScanResponse{Items: make([]Item, len(page))}
	for i, e := range page {
		res.Items[i] = wireItem(e.Key, e.Item)
	}
	if more {
		res.NextCursor = base64.RawURLEncoding.EncodeToString(page[len(page)-1].Key)
	}
	httpx.WriteJSON(w, http.StatusOK, res)
}

func (h *HTTP) batch(w http.ResponseWriter, r *http.Request) {
	var req BatchRequest
	if err := decodeStrict(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	ops := make([]kv.Op, len(req.Ops))
	for i, op := range req.Ops {
		o := kv.Op{Key: []byte(op.Key), Value: op.Value, IfVersion: op.IfVersion}
		switch op.Op {
		case "put":
		case "delete":
			o.Delete = true
			if len(op.Value) > 0 || op.TTL != "" {
				h.fail(w, r, httpx.Problemf(http.StatusBadRequest, "ops[%d]: a delete takes no value or ttl", i))
				return
			}
		default:
			h.fail(w, r, httpx.Problemf(http.StatusBadRequest, "ops[%d].op %q: want put or delete", i, op.Op))
			return
		}
		ttl, err := ttlParam(op.TTL)
		if err != nil {
			h.fail(w, r, fmt.Errorf("ops[%d]: %w", i, err))
			return
		}
		o.TTL = ttl
		ops[i] = o
	}
	versions, err := h.Store.Apply(ops)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, BatchResponse{Versions: versions})
}

// fail maps store errors to problems in one place.
func (h *HTTP) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, kv.ErrNotFound):
		err = httpx.NewProblem(http.StatusNotFound, "no such key")
	case errors.Is(err, kv.ErrConflict):
		err = httpx.NewProblem(http.StatusPreconditionFailed, "the key's version is not the one the request expected (If-Match / If-None-Match / if_version)")
	case errors.Is(err, kv.ErrInvalid):
		err = httpx.NewProblem(http.StatusBadRequest, err.Error())
	case errors.Is(err, kv.ErrReadOnly):
		// The cause goes to the log (WriteError logs 5xx with the whole chain), not to clients.
		err = fmt.Errorf("%w: %w", httpx.NewProblem(http.StatusServiceUnavailable,
			"the store is read-only after a failed background write (a full disk, a failed flush or compaction) and refuses writes until it is restarted; reads still work, and /readyz says why"), err)
	}
	httpx.WriteError(w, r, h.Logger, err)
}

// pathKey is the rest of the path after /v1/kv/, so keys may hold slashes ("user/42"); any
// other bytes come percent-encoded.
func pathKey(r *http.Request) ([]byte, error) {
	k := chi.URLParam(r, "*")
	if r.URL.RawPath != "" { // chi routed on the escaped path, so the parameter is still escaped
		var err error
		if k, err = url.PathUnescape(k); err != nil {
			return nil, httpx.Problemf(http.StatusBadRequest, "key: %v", err)
		}
	}
	if k == "" {
		return nil, httpx.NewProblem(http.StatusBadRequest, "key: empty; use /v1/kv/{key}")
	}
	return []byte(k), nil
}

// condition reads If-Match: "<version>" (compare-and-set) or If-None-Match: * (create only).
func condition(r *http.Request) (*uint64, error) {
	im, inm := r.Header.Get("If-Match"), r.Header.Get("If-None-Match")
	switch {
	case im != "" && inm != "":
		return nil, httpx.NewProblem(http.StatusBadRequest, "send If-Match or If-None-Match, not both")
	case inm == "*":
		zero := uint64(0)
		return &zero, nil
	case inm != "":
		return nil, httpx.NewProblem(http.StatusBadRequest, `If-None-Match: only "*" (create if absent) is supported`)
	case im != "":
		v, err := strconv.ParseUint(strings.Trim(strings.TrimPrefix(im, "W/"), `"`), 10, 64)
		if err != nil || v == 0 {
			return nil, httpx.Problemf(http.StatusBadRequest, "If-Match %q: want a version this server returned as ETag", im)
		}
		return &v, nil
	}
	return nil, nil
}

// ttlParam parses a TTL: a positive Go duration, at most time.Duration's ~292 years. An expiry
// past what the engine stores (2262-04-11) is clamped by the store and shown in Expires.
func ttlParam(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, httpx.Problemf(http.StatusBadRequest, "ttl %q: want a positive duration such as 30s or 1h (at most 2562047h)", s)
	}
	return d, nil
}

func setVersionHeaders(w http.ResponseWriter, version uint64, expiresAt time.Time) {
	w.Header().Set("ETag", `"`+strconv.FormatUint(version, 10)+`"`)
	if !expiresAt.IsZero() {
		w.Header().Set("Expires", expiresAt.UTC().Format(http.TimeFormat))
	}
}

func wireItem(key []byte, it kv.Item) Item {
	out := Item{Key: string(key), Value: it.Value, Version: it.Version}
	if !utf8.Valid(key) {
		out.Key, out.KeyBase64 = "", base64.StdEncoding.EncodeToString(key)
	}
	if !it.ExpiresAt.IsZero() {
		t := it.ExpiresAt.UTC()
		out.ExpiresAt = &t
	}
	return out
}
