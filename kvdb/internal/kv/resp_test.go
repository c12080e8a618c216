package kv

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/lsm"
	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/resp"
	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/resp/storetest"
)

// The RESP contract suite, the same one the in-memory reference store passes, on the real engine.
func TestRESPContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T, now func() time.Time) resp.Store {
		db, err := lsm.Open(t.TempDir(), lsm.Options{Now: now, MemtableSize: 32 << 10})
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, db.Close()) })
		return RESP{S: New(db, 1<<20, now)}
	})
}

// The SETs of a pipeline become one engine commit (one WAL record), while every command still
// sees the ones before it: a GET the SETs before it, SET NX the key written in the same
// pipeline. Replies keep their order.
func TestRESPPipelineIsOneCommit(t *testing.T) {
	db, err := lsm.Open(t.TempDir(), lsm.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	srv, err := resp.New(RESP{S: New(db, 1<<20, nil)}, resp.Options{})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
	nc, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer nc.Close()

	var req, want strings.Builder
	for i := range 16 {
		fmt.Fprintf(&req, "SET k%d v%d\r\n", i, i)
		want.WriteString("+OK\r\n")
	}
	req.WriteString("GET k3\r\nSET k3 x NX\r\nSET a 1\r\nSET a 2 EX 100\r\nGET a\r\nSET b 1 BOGUS\r\nSET c 1\r\n")
	want.WriteString("$2\r\nv3\r\n$-1\r\n+OK\r\n+OK\r\n$1\r\n2\r\n-ERR syntax error\r\n+OK\r\n")
	before := db.Metrics().CommitGroups
	_, err = io.WriteString(nc, req.String()) // one write: the server reads it as one pipeline
	require.NoError(t, err)
	got := make([]byte, want.Len())
	require.NoError(t, nc.SetReadDeadline(time.Now().Add(10*time.Second)))
	_, err = io.ReadFull(nc, got)
	require.NoError(t, err)
	assert.Equal(t, want.String(), string(got))
	// k0..k15: one commit; SET a, SET a: one; SET c: one. (Per command it was 19.)
	assert.Equal(t, uint64(3), db.Metrics().CommitGroups-before, "commits")
}

// A GET through the RESP adapter reuses the connection's value buffer: no allocation per read.
func TestRESPGetDoesNotAllocate(t *testing.T) {
	db, err := lsm.Open(t.TempDir(), lsm.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	r := RESP{S: New(db, 1<<20, nil)}
	require.NoError(t, db.Put([]byte("k"), []byte("value")))
	require.NoError(t, db.PutTTL([]byte("ttl"), []byte("expiring"), time.Hour))
	buf := make([]byte, 0, 64)
	for _, key := range []string{"k", "ttl", "missing"} {
		k := []byte(key)
		allocs := testing.AllocsPerRun(100, func() {
			v, _, err := r.GetAppend(buf[:0], k)
			if err != nil || (key != "missing" && len(v) == 0) {
				t.Fatalf("GET %s: %q, %v", key, v, err)
			}
		})
		assert.Zero(t, allocs, key)
	}
}
