package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/kv"
	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/lsm"
	"github.com/hyperscaledesignhub/DesignSystems/shared/httpx"
	"github.com/hyperscaledesignhub/DesignSystems/shared/telemetry"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// newServer serves the API over real HTTP on a real engine in a temp directory.
func newServer(t *testing.T) (*httptest.Server, *clock) {
	t.Helper()
	e := newEnv(t, time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	return e.ts, e.clock
}

// env is a served store with its engine, directory and clock, for tests that reach below HTTP.
type env struct {
	ts    *httptest.Server
	clock *clock
	db    *lsm.DB
	dir   string
}

// newEnv wires the store as cmd/kvdb does (HTTP.Register, the engine's metrics on the server's
// registry), on a 64 KiB memtable and a clock starting at start.
func newEnv(t *testing.T, start time.Time) env {
	t.Helper()
	c := &clock{t: start}
	tel, err := telemetry.New(context.Background(), telemetry.Options{})
	require.NoError(t, err)
	dir := t.TempDir()
	db, err := lsm.Open(dir, lsm.Options{Now: c.now, MemtableSize: 64 << 10, Registerer: tel.Registry})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := httpx.New(httpx.Options{Logger: logger, Telemetry: tel, MaxBodyBytes: 4 << 20})
	require.NoError(t, err)
	(&HTTP{Store: kv.New(db, 1<<20, c.now), Logger: logger, MaxValue: 1 << 20}).Register(srv)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return env{ts: ts, clock: c, db: db, dir: dir}
}

func do(t *testing.T, method, url, body string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res, string(b)
}

func TestPutGetDelete(t *testing.T) {
	ts, _ := newServer(t)
	value := "bytes \x00\xff and a newline\n"
	res, _ := do(t, http.MethodPut, ts.URL+"/v1/kv/users/42", value)
	require.Equal(t, http.StatusOK, res.StatusCode)
	etag := res.Header.Get("ETag")
	require.Regexp(t, `^"\d+"$`, etag)

	res, body := do(t, http.MethodGet, ts.URL+"/v1/kv/users/42", "")
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Equal(t, value, body, "a key with a slash, a binary value")
	assert.Equal(t, etag, res.Header.Get("ETag"))
	assert.Empty(t, res.Header.Get("Expires"))

	// Percent-encoded bytes in the key are decoded: "a b/%" is one key.
	res, _ = do(t, http.MethodPut, ts.URL+"/v1/kv/a%20b%2F%25", "x")
	require.Equal(t, http.StatusOK, res.StatusCode)
	_, body = do(t, http.MethodGet, ts.URL+"/v1/kv?prefix=a", "")
	assert.Contains(t, body, `"key":"a b/%"`)

	res, _ = do(t, http.MethodDelete, ts.URL+"/v1/kv/users/42", "")
	require.Equal(t, http.StatusNoContent, res.StatusCode)
	res, body = do(t, http.MethodGet, ts.URL+"/v1/kv/users/42", "")
	assert.Equal(t, http.StatusNotFound, res.StatusCode)
	assert.Equal(t, "application/problem+json", res.Header.Get("Content-Type"))
	assert.Contains(t, body, "no such key")
	res, _ = do(t, http.MethodDelete, ts.URL+"/v1/kv/users/42", "")
	assert.Equal(t, http.StatusNoContent, res.StatusCode, "DELETE is idempotent")
}

func TestConditionalWrites(t *testing.T) {
	ts, _ := newServer(t)
	url := ts.URL + "/v1/kv/leader"
	res, _ := do(t, http.MethodPut, url, "a", "If-None-Match", "*")
	require.Equal(t, http.StatusCreated, res.StatusCode)
	v1 := res.Header.Get("ETag")
	res, _ = do(t, http.MethodPut, url, "b", "If-None-Match", "*")
	assert.Equal(t, http.StatusPreconditionFailed, res.StatusCode, "create-only on an existing key")

	res, _ = do(t, http.MethodPut, url, "b", "If-Match", v1)
	require.Equal(t, http.StatusOK, res.StatusCode)
	v2 := res.Header.Get("ETag")
	assert.NotEqual(t, v1, v2)
	res, _ = do(t, http.MethodPut, url, "c", "If-Match", v1)
	assert.Equal(t, http.StatusPreconditionFailed, res.StatusCode, "compare-and-set with a stale version")
	res, _ = do(t, http.MethodDelete, url, "", "If-Match", v1)
	assert.Equal(t, http.StatusPreconditionFailed, res.StatusCode)
	_, body := do(t, http.MethodGet, url, "")
	assert.Equal(t, "b", body, "the failed writes changed nothing")

	for _, h := range [][]string{{"If-Match", "abc"}, {"If-Match", `"0"`}, {"If-None-Match", `"3"`}} {
		res, _ = do(t, http.MethodPut, url, "d", h...)
		assert.Equal(t, http.StatusBadRequest, res.StatusCode, "%v", h)
	}
}

// Many clients racing to compare-and-set one counter: each increment lands exactly once.
func TestCompareAndSetUnderContention(t *testing.T) {
	ts, _ := newServer(t)
	url := ts.URL + "/v1/kv/counter"
	res, _ := do(t, http.MethodPut, url, "0")
	require.Equal(t, http.StatusOK, res.StatusCode)
	const clients, each = 8, 10
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for done := 0; done < each; {
				res, body := do(t, http.MethodGet, url, "")
				var n int
				_, _ = fmt.Sscan(body, &n)
				res, _ = do(t, http.MethodPut, url, fmt.Sprint(n+1), "If-Match", res.Header.Get("ETag"))
				if res.StatusCode == http.StatusOK {
					done++
				} else if res.StatusCode != http.StatusPreconditionFailed {
					t.Errorf("status %d", res.StatusCode)
					return
				}
			}
		})
	}
	wg.Wait()
	_, body := do(t, http.MethodGet, url, "")
	assert.Equal(t, fmt.Sprint(clients*each), body)
}

func TestTTL(t *testing.T) {
	ts, c := newServer(t)
	res, _ := do(t, http.MethodPut, ts.URL+"/v1/kv/session?ttl=30s", "s")
	require.Equal(t, http.StatusOK, res.StatusCode)
	res, _ = do(t, http.MethodGet, ts.URL+"/v1/kv/session", "")
	require.Equal(t, http.StatusOK, res.StatusCode)
	exp, err := http.ParseTime(res.Header.Get("Expires"))
	require.NoError(t, err)
	assert.Equal(t, c.now().Add(30*time.Second), exp)
	c.add(31 * time.Second)
	res, _ = do(t, http.MethodGet, ts.URL+"/v1/kv/session", "")
	assert.Equal(t, http.StatusNotFound, res.StatusCode)
	_, body := do(t, http.MethodGet, ts.URL+"/v1/kv", "")
	assert.JSONEq(t, `{"items":[]}`, body, "expired keys are not scanned")
}

func TestScanPages(t *testing.T) {
	ts, _ := newServer(t)
	var ops []BatchOp
	for i := range 250 {
		ops = append(ops, BatchOp{Op: "put", Key: fmt.Sprintf("k%03d", i), Value: []byte{byte(i)}})
	}
	ops = append(ops, BatchOp{Op: "put", Key: "other", Value: []byte("x")})
	b, _ := json.Marshal(BatchRequest{Ops: ops})
	res, _ := do(t, http.MethodPost, ts.URL+"/v1/batch", string(b), "Content-Type", "application/json")
	require.Equal(t, http.StatusOK, res.StatusCode)

	var keys []string
	cursor := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 10)
		u := ts.URL + "/v1/kv?prefix=k&limit=100"
		if cursor != "" {
			u += "&cursor=" + cursor
		}
		res, body := do(t, http.MethodGet, u, "")
		require.Equal(t, http.StatusOK, res.StatusCode, body)
		var page ScanResponse
		require.NoError(t, json.Unmarshal([]byte(body), &page))
		for _, it := range page.Items {
			keys = append(keys, it.Key)
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	require.Len(t, keys, 250)
	for i, k := range keys {
		require.Equal(t, fmt.Sprintf("k%03d", i), k, "every key once, in order")
	}

	_, body := do(t, http.MethodGet, ts.URL+"/v1/kv?start=k100&end=k103", "")
	var page ScanResponse
	require.NoError(t, json.Unmarshal([]byte(body), &page))
	require.Len(t, page.Items, 3)
	assert.Equal(t, []byte{100}, page.Items[0].Value)

	for _, q := range []string{"limit=0", "limit=1001", "limit=x", "prefix=k&start=a", "cursor=!!"} {
		res, _ := do(t, http.MethodGet, ts.URL+"/v1/kv?"+q, "")
		assert.Equal(t, http.StatusBadRequest, res.StatusCode, q)
	}
}

func TestBatchIsAtomic(t *testing.T) {
	ts, _ := newServer(t)
	zero := uint64(0)
	do(t, http.MethodPut, ts.URL+"/v1/kv/taken", "x")
	b, _ := json.Marshal(BatchRequest{Ops: []BatchOp{
		{Op: "put", Key: "fresh", Value: []byte("1")},
		{Op: "put", Key: "taken", Value: []byte("2"), IfVersion: &zero},
	}})
	res, _ := do(t, http.MethodPost, ts.URL+"/v1/batch", string(b), "Content-Type", "application/json")
	require.Equal(t, http.StatusPreconditionFailed, res.StatusCode)
	res, _ = do(t, http.MethodGet, ts.URL+"/v1/kv/fresh", "")
	assert.Equal(t, http.StatusNotFound, res.StatusCode, "nothing of a failed batch is written")

	b, _ = json.Marshal(BatchRequest{Ops: []BatchOp{{Op: "put", Key: "a", Value: []byte("1"), TTL: "1h"}, {Op: "delete", Key: "taken"}}})
	res, body := do(t, http.MethodPost, ts.URL+"/v1/batch", string(b), "Content-Type", "application/json")
	require.Equal(t, http.StatusOK, res.StatusCode, body)
	var out BatchResponse
	require.NoError(t, json.Unmarshal([]byte(body), &out))
	require.Len(t, out.Versions, 2)
	assert.Equal(t, out.Versions[0]+1, out.Versions[1], "op i of a batch gets version seq+i")
	res, _ = do(t, http.MethodGet, ts.URL+"/v1/kv/a", "")
	assert.Equal(t, fmt.Sprintf(`"%d"`, out.Versions[0]), res.Header.Get("ETag"))
}

func TestBadRequests(t *testing.T) {
	ts, _ := newServer(t)
	cases := []struct {
		name, method, path, body string
		hdr                      []string
		want                     int
	}{
		{"empty key", http.MethodPut, "/v1/kv/", "x", nil, http.StatusBadRequest},
		{"key too long", http.MethodPut, "/v1/kv/" + strings.Repeat("k", kv.MaxKeyBytes+1), "x", nil, http.StatusBadRequest},
		{"value too large", http.MethodPut, "/v1/kv/big", strings.Repeat("v", 1<<20+1), nil, http.StatusRequestEntityTooLarge},
		{"bad ttl", http.MethodPut, "/v1/kv/k?ttl=soon", "x", nil, http.StatusBadRequest},
		{"negative ttl", http.MethodPut, "/v1/kv/k?ttl=-1s", "x", nil, http.StatusBadRequest},
		{"batch unknown field", http.MethodPost, "/v1/batch", `{"ops":[],"x":1}`, []string{"Content-Type", "application/json"}, http.StatusBadRequest},
		{"batch empty", http.MethodPost, "/v1/batch", `{"ops":[]}`, []string{"Content-Type", "application/json"}, http.StatusBadRequest},
		{"batch bad op", http.MethodPost, "/v1/batch", `{"ops":[{"op":"inc","key":"k"}]}`, []string{"Content-Type", "application/json"}, http.StatusBadRequest},
		{"batch delete with value", http.MethodPost, "/v1/batch", `{"ops":[{"op":"delete","key":"k","value":"eA=="}]}`, []string{"Content-Type", "application/json"}, http.StatusBadRequest},
		{"batch not json", http.MethodPost, "/v1/batch", `{`, []string{"Content-Type", "application/json"}, http.StatusBadRequest},
		{"batch wrong content type", http.MethodPost, "/v1/batch", `{}`, []string{"Content-Type", "text/plain"}, http.StatusUnsupportedMediaType},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, body := do(t, tc.method, ts.URL+tc.path, tc.body, tc.hdr...)
			assert.Equal(t, tc.want, res.StatusCode, body)
			assert.Equal(t, "application/problem+json", res.Header.Get("Content-Type"), body)
		})
	}
}
