package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/api"
	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/kv"
	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/lsm"
	"github.com/hyperscaledesignhub/DesignSystems/shared/httpx"
)

func kvctl(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, &out, &errOut)
	return out.String(), errOut.String(), err
}

// The client commands against a real server on a real engine.
func TestClientCommands(t *testing.T) {
	db, err := lsm.Open(t.TempDir(), lsm.DefaultOptions())
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := httpx.New(httpx.Options{Logger: logger})
	require.NoError(t, err)
	(&api.HTTP{Store: kv.New(db, 1<<20, nil), Logger: logger, MaxValue: 1 << 20}).Routes(srv.Router())
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	addr := "-addr=" + ts.URL

	_, stderr, err := kvctl(t, addr, "put", "user/1", "alice", "-ttl", "1h")
	require.NoError(t, err)
	assert.Regexp(t, `^version \d+\n$`, stderr)
	var version uint64
	_, _ = fmt.Sscanf(stderr, "version %d", &version)

	out, stderr, err := kvctl(t, addr, "get", "user/1")
	require.NoError(t, err)
	assert.Equal(t, "alice\n", out)
	assert.Contains(t, stderr, "expires")

	_, _, err = kvctl(t, addr, "put", "user/1", "bob", "-if-version", fmt.Sprint(version+100))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "412")
	_, _, err = kvctl(t, addr, "put", "user/1", "bob", "-create")
	require.Error(t, err, "create-only on an existing key")

	for i := range 5 {
		_, _, err := kvctl(t, addr, "put", fmt.Sprintf("user/%d", i+2), "x")
		require.NoError(t, err)
	}
	out, stderr, err = kvctl(t, addr, "scan", "-prefix", "user/", "-limit", "2", "-all")
	require.NoError(t, err)
	assert.Len(t, strings.Split(strings.TrimSpace(out), "\n"), 6, "all pages followed")
	assert.Empty(t, stderr)
	out, stderr, err = kvctl(t, addr, "scan", "-prefix", "user/", "-limit", "2")
	require.NoError(t, err)
	assert.Len(t, strings.Split(strings.TrimSpace(out), "\n"), 2)
	assert.Contains(t, stderr, "more after them")

	_, _, err = kvctl(t, addr, "delete", "user/1")
	require.NoError(t, err)
	_, _, err = kvctl(t, addr, "get", "user/1")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "404")

	out, _, err = kvctl(t, addr, "bench", "-n", "300", "-c", "4", "-keys", "50")
	require.NoError(t, err)
	assert.Contains(t, out, "300 operations")
	assert.Contains(t, out, "0 errors")
}

// inspect shows a real table, WAL and MANIFEST written by the engine.
func TestInspect(t *testing.T) {
	dir := t.TempDir()
	db, err := lsm.Open(dir, lsm.DefaultOptions())
	require.NoError(t, err)
	for i := range 100 {
		require.NoError(t, db.Put([]byte(fmt.Sprintf("key%03d", i)), []byte("value")))
	}
	require.NoError(t, db.Flush())
	require.NoError(t, db.Put([]byte("after-flush"), []byte("in the WAL")))
	require.NoError(t, db.Close())

	out, stderr, err := kvctl(t, "inspect", dir)
	require.NoError(t, err)
	assert.Empty(t, stderr)
	for _, want := range []string{"(manifest)", "(wal)", "(sstable)", `"key000"`, `"key099"`, "entries=100", "after-flush"} {
		assert.Contains(t, out, want)
	}

	ssts, err := filepath.Glob(filepath.Join(dir, "*.sst"))
	require.NoError(t, err)
	require.NotEmpty(t, ssts)
	out, _, err = kvctl(t, "inspect", ssts[0])
	require.NoError(t, err)
	assert.Contains(t, out, `magic="kvdb.sst"`)

	// A damaged table is reported, not dumped as if it were good.
	b, err := os.ReadFile(ssts[0])
	require.NoError(t, err)
	b[len(b)-3] ^= 0xff // inside the footer's magic
	bad := filepath.Join(t.TempDir(), "000001.sst")
	require.NoError(t, os.WriteFile(bad, b, 0o644))
	_, _, err = kvctl(t, "inspect", bad)
	require.Error(t, err)

	_, _, err = kvctl(t, "inspect", filepath.Join(dir, "LOCK"))
	require.Error(t, err, "not a kvdb file")
}
