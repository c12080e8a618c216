package api

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/lsm"
)

// A background failure (here: the flush cannot create its table file, as on a full or broken
// disk) makes the engine refuse writes. The running server must say so: /readyz 503 with the
// reason, kvdb_engine_read_only 1, writes a 503 problem, reads still served.
func TestReadOnlyEngineIsNotReady(t *testing.T) {
	e := newEnv(t, time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	res, body := do(t, http.MethodGet, e.ts.URL+"/readyz", "")
	require.Equal(t, http.StatusOK, res.StatusCode, body)
	assert.Contains(t, body, `"engine":"ok"`)
	assert.Equal(t, "kvdb_engine_read_only 0", metric(t, e.ts.URL, "kvdb_engine_read_only"))

	res, _ = do(t, http.MethodPut, e.ts.URL+"/v1/kv/before", "written before the failure")
	require.Equal(t, http.StatusOK, res.StatusCode)

	// The next table files cannot be created: a directory (not empty, so nothing removes it)
	// sits at each name the next flushes will use. Open as root or not, creating fails.
	next := maxFileNum(t, e.dir) + 1
	for n := next; n < next+16; n++ {
		blocker := filepath.Join(e.dir, fmt.Sprintf("%06d.sst", n))
		require.NoError(t, os.MkdirAll(filepath.Join(blocker, "in-the-way"), 0o755))
	}
	// Fill the 64 KiB memtable through the API, so the engine rotates it and its background
	// flusher hits the fault; Flush waits for that outcome.
	big := strings.Repeat("x", 40<<10)
	for i := range 2 {
		res, body = do(t, http.MethodPut, fmt.Sprintf("%s/v1/kv/big%d", e.ts.URL, i), big)
		require.Equal(t, http.StatusOK, res.StatusCode, body)
	}
	require.ErrorIs(t, e.db.Flush(), lsm.ErrReadOnly)

	res, body = do(t, http.MethodGet, e.ts.URL+"/readyz", "")
	assert.Equal(t, http.StatusServiceUnavailable, res.StatusCode)
	assert.Equal(t, "application/problem+json", res.Header.Get("Content-Type"))
	assert.Contains(t, body, "not ready: engine")
	assert.Contains(t, body, "engine is read-only", "the body says why")
	assert.Contains(t, body, "flush failed")
	assert.Contains(t, body, "is a directory", "and names the cause")
	assert.Equal(t, "kvdb_engine_read_only 1", metric(t, e.ts.URL, "kvdb_engine_read_only"))

	for _, w := range []struct{ method, path, body string }{
		{http.MethodPut, "/v1/kv/after", "refused"},
		{http.MethodDelete, "/v1/kv/before", ""},
		{http.MethodPost, "/v1/batch", `{"ops":[{"op":"put","key":"after","value":"dg=="}]}`},
	} {
		res, body = do(t, w.method, e.ts.URL+w.path, w.body)
		assert.Equal(t, http.StatusServiceUnavailable, res.StatusCode, "%s %s: %s", w.method, w.path, body)
		assert.Equal(t, "application/problem+json", res.Header.Get("Content-Type"))
		assert.Contains(t, body, "read-only")
		assert.NotContains(t, body, "is a directory", "internals go to the log, not to clients")
	}

	res, body = do(t, http.MethodGet, e.ts.URL+"/v1/kv/before", "")
	assert.Equal(t, http.StatusOK, res.StatusCode, "reads still work")
	assert.Equal(t, "written before the failure", body)
	res, body = do(t, http.MethodGet, e.ts.URL+"/v1/kv/big1", "")
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Len(t, body, len(big), "also what only the unflushed memtable holds")
	res, body = do(t, http.MethodGet, e.ts.URL+"/v1/kv?prefix=b", "")
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Contains(t, body, `"key":"before"`)
	res, _ = do(t, http.MethodGet, e.ts.URL+"/v1/kv/after", "")
	assert.Equal(t, http.StatusNotFound, res.StatusCode, "no refused write landed")
}

// metric is the sample line of an unlabelled metric on /metrics ("" when absent).
func metric(t *testing.T, base, name string) string {
	t.Helper()
	res, body := do(t, http.MethodGet, base+"/metrics", "")
	require.Equal(t, http.StatusOK, res.StatusCode)
	return regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` .*$`).FindString(body)
}

// maxFileNum is the highest file number (WAL, table or MANIFEST) in dir.
func maxFileNum(t *testing.T, dir string) int {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	num := regexp.MustCompile(`^(?:MANIFEST-)?(\d{6,})(?:\.\w+)?$`)
	highest := 0
	for _, e := range entries {
		if m := num.FindStringSubmatch(e.Name()); m != nil {
			n, err := strconv.Atoi(m[1])
			require.NoError(t, err)
			highest = max(highest, n)
		}
	}
	require.Positive(t, highest, "no numbered files in %s", dir)
	return highest
}
