package resp_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/resp"
	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/resp/storetest"
	"github.com/hyperscaledesignhub/DesignSystems/shared/testkit"
)

// testServer is a Server on a loopback port, over a MemStore with a manual clock.
type testServer struct {
	addr   string
	clock  *storetest.Clock
	store  *resp.MemStore
	cancel context.CancelFunc
	done   chan error // Serve's result
	writes *atomic.Int64
}

// startServer serves store (a new MemStore when nil) until the test ends.
func startServer(t *testing.T, opts resp.Options, store resp.Store) *testServer {
	t.Helper()
	ts := &testServer{clock: storetest.NewClock(storetest.Epoch), done: make(chan error, 1), writes: new(atomic.Int64)}
	ts.store = resp.NewMemStore(ts.clock.Now)
	if store == nil {
		store = ts.store
	}
	opts.Now = ts.clock.Now
	srv, err := resp.New(store, opts)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ts.addr = ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	ts.cancel = cancel
	go func() { ts.done <- srv.Serve(ctx, countingListener{ln, ts.writes}) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-ts.done:
			assert.NoError(t, err, "Serve")
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return after cancel")
		}
	})
	return ts
}

// countingListener counts the server's write calls, to check that a pipeline gets one write.
type countingListener struct {
	net.Listener
	writes *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return countingConn{c, l.writes}, nil
}

type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

func (ts *testServer) client(t *testing.T) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: ts.addr})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// raw is a bare TCP client, for exact bytes.
type raw struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

func (ts *testServer) raw(t *testing.T) *raw {
	t.Helper()
	nc, err := net.Dial("tcp", ts.addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = nc.Close() })
	return &raw{t: t, nc: nc, br: bufio.NewReader(nc)}
}

func (r *raw) send(s string) {
	r.t.Helper()
	_, err := io.WriteString(r.nc, s)
	require.NoError(r.t, err)
}

// expect reads exactly len(want) bytes within 5 s.
func (r *raw) expect(want string) {
	r.t.Helper()
	require.NoError(r.t, r.nc.SetReadDeadline(time.Now().Add(5*time.Second)))
	got := make([]byte, len(want))
	_, err := io.ReadFull(r.br, got)
	require.NoError(r.t, err, "waiting for %q, got %q", clip(want), clip(string(got)))
	require.Equal(r.t, clip(want), clip(string(got)))
	require.Equal(r.t, want, string(got))
}

// clip shortens a long reply for failure messages.
func clip(s string) string {
	if len(s) <= 200 {
		return s
	}
	return fmt.Sprintf("%s...(%d bytes)...%s", s[:100], len(s), s[len(s)-100:])
}

// expectClosed checks that the server closed the connection.
func (r *raw) expectClosed() {
	r.t.Helper()
	require.NoError(r.t, r.nc.SetReadDeadline(time.Now().Add(5*time.Second)))
	b, err := r.br.ReadByte()
	require.ErrorIs(r.t, err, io.EOF, "read %q", b)
}

// doer is what *redis.Client and *redis.Conn have in common for raw commands.
type doer interface {
	Do(ctx context.Context, args ...any) *redis.Cmd
}

// do runs a command and returns its result in a comparable form: the reply value, or "error: "
// and the error text, or "nil".
func do(ctx context.Context, c doer, args ...any) string {
	v, err := c.Do(ctx, args...).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return "nil"
	case err != nil:
		return "error: " + err.Error()
	}
	return fmt.Sprint(v)
}

// script is a sequence of commands and the replies Redis gives them. Keys are given as "{k}" and
// prefixed, so the same script runs against a real Redis without touching anything else.
var script = []struct{ cmd, want string }{
	{"PING", "PONG"},
	{"PING hello", "hello"},
	{"PING a b", "error: ERR wrong number of arguments for 'ping' command"},
	{"ECHO hi", "hi"},
	{"GET", "error: ERR wrong number of arguments for 'get' command"},
	{"GET {k} extra", "error: ERR wrong number of arguments for 'get' command"},
	{"NOSUCH a b", "error: ERR unknown command 'NOSUCH', with args beginning with: 'a' 'b' "},
	{"nosuch", "error: ERR unknown command 'nosuch', with args beginning with: "},
	{"GET {k}", "nil"},
	{"SET {k} v1", "OK"},
	{"get {k}", "v1"},
	{"SET {k} v2 NX", "nil"},
	{"SET {k2} v XX", "nil"},
	{"GET {k2}", "nil"},
	{"SET {k} v2 XX", "OK"},
	{"SET {k} v3 GET", "v2"},
	{"SET {k3} v GET", "nil"},
	{"SET {k} v4 NX GET", "v3"},
	{"GET {k}", "v3"},
	{"SET {k} v NX XX", "error: ERR syntax error"},
	{"SET {k} v EX", "error: ERR syntax error"},
	{"SET {k} v EX 10 PX 100", "error: ERR syntax error"},
	{"SET {k} v KEEPTTL EX 10", "error: ERR syntax error"},
	{"SET {k} v BOGUS", "error: ERR syntax error"},
	{"SET {k} v EX abc", "error: ERR value is not an integer or out of range"},
	{"SET {k} v EX 0", "error: ERR invalid expire time in 'set' command"},
	{"SET {k} v PX -5", "error: ERR invalid expire time in 'set' command"},
	{"SET {k} v EX 9223372036854775807", "error: ERR invalid expire time in 'set' command"},
	{"SET {k} v EX 100", "OK"},
	{"TTL {k}", "100"},
	{"SET {k} v5 KEEPTTL", "OK"},
	{"TTL {k}", "100"},
	{"SET {k} v6", "OK"},
	{"TTL {k}", "-1"},
	{"PTTL {k}", "-1"},
	{"TTL {nokey}", "-2"},
	{"PTTL {nokey}", "-2"},
	{"MSET {a} 1 {b}", "error: ERR wrong number of arguments for 'mset' command"},
	{"MSET {a} 1 {b} 2", "OK"},
	{"MGET {a} {nokey} {b}", "[1 <nil> 2]"},
	{"EXISTS {a} {a} {nokey}", "2"},
	{"DEL {a} {a} {nokey}", "1"},
	{"EXISTS {a}", "0"},
	{"EXPIRE {b} 100 NX XX", "error: ERR NX and XX, GT or LT options at the same time are not compatible"},
	{"EXPIRE {b} 100 GT LT", "error: ERR GT and LT options at the same time are not compatible"},
	{"EXPIRE {b} 100 FOO", "error: ERR Unsupported option FOO"},
	{"EXPIRE {b} abc", "error: ERR value is not an integer or out of range"},
	{"EXPIRE {b} 9223372036854775807", "error: ERR invalid expire time in 'expire' command"},
	{"PEXPIRE {b} 9223372036854775807", "error: ERR invalid expire time in 'pexpire' command"},
	{"EXPIRE {b}", "error: ERR wrong number of arguments for 'expire' command"},
	{"EXPIRE {nokey} 100", "0"},
	{"EXPIRE {b} 100 XX", "0"},
	{"EXPIRE {b} 100 GT", "0"},
	{"EXPIRE {b} 100 NX", "1"},
	{"EXPIRE {b} 200 NX", "0"},
	{"EXPIRE {b} 50 GT", "0"},
	{"EXPIRE {b} 200 GT", "1"},
	{"TTL {b}", "200"},
	{"EXPIRE {b} 300 LT", "0"},
	{"PEXPIRE {b} 150000 LT", "1"},
	{"TTL {b}", "150"},
	{"EXPIRE {b} -1", "1"},
	{"GET {b}", "nil"},
	{"SCAN abc", "error: ERR invalid cursor"},
	{"SCAN 0 COUNT 0", "error: ERR syntax error"},
	{"SCAN 0 COUNT x", "error: ERR value is not an integer or out of range"},
	{"SCAN 0 MATCH", "error: ERR syntax error"},
	{"SCAN 0 BOGUS 1", "error: ERR syntax error"},
	{"SELECT 0", "OK"},
	{"SELECT 99", "error: ERR DB index is out of range"},
	{"SELECT x", "error: ERR value is not an integer or out of range"},
	{"HELLO x", "error: ERR Protocol version is not an integer or out of range"},
	{"HELLO 4", "error: NOPROTO unsupported protocol version"},
	{"HELLO 2 BOGUS", "error: ERR Syntax error in HELLO option 'BOGUS'"},
	{"HELLO 2 AUTH bob pw", "error: WRONGPASS invalid username-password pair or user is disabled."},
	{"AUTH pw", "error: ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"},
	{"AUTH default pw", "OK"},
	{"AUTH bob pw", "error: WRONGPASS invalid username-password pair or user is disabled."},
	{"AUTH a b c", "error: ERR syntax error"},
	{"CLIENT BOGUS", "error: ERR unknown subcommand 'BOGUS'. Try CLIENT HELP."},
	{"CLIENT SETNAME", "error: ERR wrong number of arguments for 'client|setname' command"},
	{"CONFIG BOGUS", "error: ERR unknown subcommand 'BOGUS'. Try CONFIG HELP."},
	{"CONFIG GET", "error: ERR wrong number of arguments for 'config|get' command"},
	{"CONFIG GET nosuchparam", "[]"},
}

// runScript runs script on c with keys under prefix.
func runScript(t *testing.T, c doer, prefix string) {
	t.Helper()
	ctx := t.Context()
	for _, step := range script {
		var args []any
		for _, f := range strings.Fields(step.cmd) {
			if strings.HasPrefix(f, "{") {
				f = prefix + strings.Trim(f, "{}")
			}
			args = append(args, f)
		}
		assert.Equal(t, step.want, do(ctx, c, args...), step.cmd)
	}
}

func TestCommands(t *testing.T) {
	t.Parallel()
	ts := startServer(t, resp.Options{}, nil)
	runScript(t, ts.client(t), "test:")
}

func TestPipeline(t *testing.T) {
	t.Parallel()
	ts := startServer(t, resp.Options{}, nil)
	c := ts.client(t)
	ctx := t.Context()
	cmds, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range 100 {
			p.Set(ctx, fmt.Sprintf("k%d", i), i, 0)
			p.Get(ctx, fmt.Sprintf("k%d", i))
		}
		return nil
	})
	require.NoError(t, err)
	require.Len(t, cmds, 200)
	for i := range 100 {
		assert.Equal(t, fmt.Sprint(i), cmds[2*i+1].(*redis.StringCmd).Val())
	}
}

func TestExpiryWithClock(t *testing.T) {
	t.Parallel()
	ts := startServer(t, resp.Options{}, nil)
	c := ts.client(t)
	ctx := t.Context()

	require.NoError(t, c.Set(ctx, "ex", "v", 10*time.Second).Err())
	require.NoError(t, c.Set(ctx, "px", "v", 1500*time.Millisecond).Err())
	require.NoError(t, c.Do(ctx, "SET", "exat", "v", "EXAT", storetest.Epoch.Add(time.Hour).Unix()).Err())
	require.NoError(t, c.Do(ctx, "SET", "pxat", "v", "PXAT", storetest.Epoch.Add(time.Minute).UnixMilli()).Err())
	require.NoError(t, c.Set(ctx, "forever", "v", 0).Err())

	assert.Equal(t, 10*time.Second, c.TTL(ctx, "ex").Val())
	assert.Equal(t, 1500*time.Millisecond, c.PTTL(ctx, "px").Val())
	assert.Equal(t, time.Hour, c.TTL(ctx, "exat").Val())
	assert.Equal(t, time.Minute, c.PTTL(ctx, "pxat").Val())
	assert.Equal(t, time.Duration(-1), c.TTL(ctx, "forever").Val())
	assert.Equal(t, storetest.Epoch.Add(time.Hour).Unix(), c.ExpireTime(ctx, "exat").Val().Nanoseconds()/int64(time.Second))

	ts.clock.Advance(1499 * time.Millisecond)
	assert.Equal(t, "v", c.Get(ctx, "px").Val(), "1 ms left")
	assert.Equal(t, int64(1), c.Exists(ctx, "px").Val())
	ts.clock.Advance(time.Millisecond)
	assert.ErrorIs(t, c.Get(ctx, "px").Err(), redis.Nil, "expired")
	assert.Equal(t, time.Duration(-2), c.TTL(ctx, "px").Val())
	assert.Equal(t, int64(0), c.Exists(ctx, "px").Val())

	ts.clock.Advance(8000 * time.Millisecond)
	assert.Equal(t, time.Second, c.TTL(ctx, "ex").Val(), "0.5 s left: TTL rounds to the nearest second")
	assert.Equal(t, 500*time.Millisecond, c.PTTL(ctx, "ex").Val())
	ts.clock.Advance(500 * time.Millisecond)
	assert.ErrorIs(t, c.Get(ctx, "ex").Err(), redis.Nil)
	assert.Equal(t, "v", c.Get(ctx, "forever").Val())

	// EXPIRE turns a relative time into an absolute one with the server clock.
	require.True(t, c.Expire(ctx, "forever", 30*time.Second).Val())
	ts.clock.Advance(29 * time.Second)
	assert.Equal(t, time.Second, c.TTL(ctx, "forever").Val())
	assert.True(t, c.ExpireGT(ctx, "forever", time.Minute).Val())
	assert.False(t, c.ExpireLT(ctx, "forever", 2*time.Minute).Val())
	assert.True(t, c.ExpireAt(ctx, "forever", ts.clock.Now().Add(5*time.Second)).Val())
	assert.Equal(t, 5*time.Second, c.TTL(ctx, "forever").Val())
	ts.clock.Advance(5 * time.Second)
	assert.ErrorIs(t, c.Get(ctx, "forever").Err(), redis.Nil)

	// SET ... NX succeeds on an expired key.
	assert.True(t, c.SetNX(ctx, "ex", "new", 0).Val())
	assert.Equal(t, "new", c.Get(ctx, "ex").Val())
}

func TestSetConditionsWithClient(t *testing.T) {
	t.Parallel()
	ts := startServer(t, resp.Options{}, nil)
	c := ts.client(t)
	ctx := t.Context()
	assert.False(t, c.SetXX(ctx, "k", "v", 0).Val(), "XX on an absent key")
	assert.True(t, c.SetNX(ctx, "k", "v1", 0).Val())
	assert.False(t, c.SetNX(ctx, "k", "v2", 0).Val())
	assert.True(t, c.SetXX(ctx, "k", "v3", time.Minute).Val())
	assert.Equal(t, "v3", c.Get(ctx, "k").Val())
	assert.Equal(t, time.Minute, c.TTL(ctx, "k").Val())
	old, err := c.SetArgs(ctx, "k", "v4", redis.SetArgs{Get: true, KeepTTL: true}).Result()
	require.NoError(t, err)
	assert.Equal(t, "v3", old)
	assert.Equal(t, time.Minute, c.TTL(ctx, "k").Val())

	require.NoError(t, c.MSet(ctx, "a", "1", "b", "2", "k", "5").Err())
	vals, err := c.MGet(ctx, "a", "missing", "b", "k").Result()
	require.NoError(t, err)
	assert.Equal(t, []any{"1", nil, "2", "5"}, vals)
	assert.Equal(t, time.Duration(-1), c.TTL(ctx, "k").Val(), "MSET drops the TTL")
	assert.Equal(t, int64(2), c.Del(ctx, "a", "b", "missing").Val())
	assert.Equal(t, int64(1), c.DBSize(ctx).Val())
}

func TestScanCoversAllKeys(t *testing.T) {
	t.Parallel()
	ts := startServer(t, resp.Options{}, nil)
	c := ts.client(t)
	ctx := t.Context()
	var all, users []string
	for i := range 600 {
		k := fmt.Sprintf("order:%04d", i)
		if i%3 == 0 {
			k = fmt.Sprintf("user:%04d", i)
			users = append(users, k)
		}
		all = append(all, k)
		require.NoError(t, c.Set(ctx, k, "v", 0).Err())
	}
	// A key whose expiry passes must not come back.
	require.NoError(t, c.Set(ctx, "user:expiring", "v", time.Second).Err())
	ts.clock.Advance(time.Second)

	scan := func(match string, count int64) []string {
		var got []string
		iter := c.Scan(ctx, 0, match, count).Iterator()
		for iter.Next(ctx) {
			got = append(got, iter.Val())
		}
		require.NoError(t, iter.Err())
		return got
	}
	for _, tc := range []struct {
		match string
		count int64
		want  []string
	}{
		{"", 10, all},
		{"*", 1000, all},
		{"user:*", 7, users},
		{"user:00?0", 5, []string{"user:0000", "user:0030", "user:0060", "user:0090"}},
		{"*:0[01]0[05]", 50, nil},
		{"nomatch*", 10, nil},
	} {
		want := tc.want
		if tc.match == "*:0[01]0[05]" {
			for _, k := range all {
				if strings.HasSuffix(k, ":0000") || strings.HasSuffix(k, ":0005") || strings.HasSuffix(k, ":0100") || strings.HasSuffix(k, ":0105") {
					want = append(want, k)
				}
			}
		}
		got := scan(tc.match, tc.count)
		assert.ElementsMatch(t, want, got, "MATCH %q COUNT %d", tc.match, tc.count)
	}

	// The raw protocol: a page, then its cursor continues after it; the last page returns "0".
	page, cursor, err := c.Scan(ctx, 0, "", 100).Result()
	require.NoError(t, err)
	assert.Len(t, page, 100)
	assert.NotZero(t, cursor)
	again, cursor2, err := c.Scan(ctx, 0, "", 100).Result()
	require.NoError(t, err)
	assert.Equal(t, page, again, "same position, same page")
	assert.Equal(t, cursor, cursor2, "same position, same cursor")
	next, _, err := c.Scan(ctx, cursor, "", 100).Result()
	require.NoError(t, err)
	sort.Strings(page)
	assert.Greater(t, next[0], page[len(page)-1], "the next page starts after the previous one")
	_, last, err := c.Scan(ctx, 0, "", 10000).Result()
	require.NoError(t, err)
	assert.Zero(t, last, "one page holds everything: cursor 0")

	assert.Equal(t, "error: ERR invalid cursor (unknown or expired)", do(ctx, c, "SCAN", "12345"))
	typ, _, err := c.ScanType(ctx, 0, "", 1000, "string").Result()
	require.NoError(t, err)
	assert.Len(t, typ, len(all))
	typ, _, err = c.ScanType(ctx, 0, "", 1000, "hash").Result()
	require.NoError(t, err)
	assert.Empty(t, typ)
}

func TestConnectionCommands(t *testing.T) {
	t.Parallel()
	ts := startServer(t, resp.Options{Version: "1.2.3"}, nil)
	c := ts.client(t)
	ctx := t.Context()
	conn := c.Conn()
	defer conn.Close()
	require.NoError(t, conn.ClientSetName(ctx, "worker-1").Err())
	assert.Equal(t, "worker-1", conn.ClientGetName(ctx).Val())
	assert.Equal(t, "error: ERR Client names cannot contain spaces, newlines or special characters.",
		do(ctx, conn, "CLIENT", "SETNAME", "a b"))
	assert.Equal(t, "OK", do(ctx, conn, "CLIENT", "SETINFO", "lib-name", "go-redis"))
	assert.Positive(t, conn.ClientID(ctx).Val())

	hello, err := conn.Do(ctx, "HELLO", "2", "SETNAME", "worker-2").Slice()
	require.NoError(t, err)
	require.Len(t, hello, 14)
	assert.Equal(t, []any{"server", "kvdb", "version", "7.0.0", "proto", int64(2)}, hello[:6])
	assert.Equal(t, "worker-2", conn.ClientGetName(ctx).Val())
	assert.Equal(t, "error: NOPROTO unsupported protocol version", do(ctx, conn, "HELLO", "3"))

	assert.Equal(t, "[]", do(ctx, c, "COMMAND"))
	assert.Equal(t, "[]", do(ctx, c, "COMMAND", "DOCS"))
	assert.Equal(t, "OK", do(ctx, c, "SELECT", "0"))
	require.NoError(t, c.Set(ctx, "k", "v", 0).Err())
	info := c.Info(ctx).Val()
	for _, want := range []string{"redis_version:7.0.0", "kvdb_version:1.2.3", "connected_clients:", "db0:keys=1,expires=0,avg_ttl=0", "# Keyspace"} {
		assert.Contains(t, info, want)
	}
	assert.NotContains(t, c.Info(ctx, "clients").Val(), "# Server", "one section")
	params, err := c.ConfigGet(ctx, "*").Result()
	require.NoError(t, err)
	assert.Equal(t, "no", params["appendonly"])
	assert.Contains(t, params, "save")
}

// The replies above were written down from Redis 7.0; this runs the same script against the
// real Redis to keep them honest.
func TestScriptMatchesRedis(t *testing.T) {
	t.Parallel()
	env := testkit.Redis(t)
	c := redis.NewClient(&redis.Options{Addr: env.Addr, Protocol: 2})
	t.Cleanup(func() { _ = c.Close() })
	runScript(t, c, env.Prefix)
}

func TestInlineCommands(t *testing.T) {
	t.Parallel()
	ts := startServer(t, resp.Options{}, nil)
	r := ts.raw(t)
	r.send("SET greeting \"hello world\"\r\nGET greeting\r\n\r\nPING\n")
	r.expect("+OK\r\n$11\r\nhello world\r\n+PONG\r\n")
	r.send("QUIT\r\n")
	r.expect("+OK\r\n")
	r.expectClosed()
}

func TestProtocolErrorClosesConnection(t *testing.T) {
	t.Parallel()
	ts := startServer(t, resp.Options{MaxBulk: 10}, nil)
	for _, tc := range []struct{ in, want string }{
		{"*1\r\n$x\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
		{"*1\r\n$11\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
		{"*1\r\n:1\r\n", "-ERR Protocol error: expected '$', got ':'\r\n"},
		{"ECHO \"unbalanced\r\n", "-ERR Protocol error: unbalanced quotes in request\r\n"},
		{"PING\r\n*2\r\n$4\r\nECHO\r\n$3\r\nabcde", "+PONG\r\n-ERR Protocol error: expected CRLF after bulk string\r\n"},
	} {
		r := ts.raw(t)
		r.send(tc.in)
		r.expect(tc.want)
		r.expectClosed()
	}
}

// A pipeline is answered with one write; and the server does not hold replies back while it
// waits for the rest of a partially received command.
func TestPipelineIsOneWrite(t *testing.T) {
	t.Parallel()
	ts := startServer(t, resp.Options{}, nil)
	r := ts.raw(t)
	r.send("PING\r\n") // connection set up
	r.expect("+PONG\r\n")
	before := ts.writes.Load()
	r.send(strings.Repeat("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", 8))
	r.expect(strings.Repeat("+OK\r\n$1\r\nv\r\n", 8))
	assert.Equal(t, int64(1), ts.writes.Load()-before, "16 replies, one write")

	r.send("PING\r\n*2\r\n$4\r\nECHO\r\n$5\r\nab") // a reply due, and half a command
	r.expect("+PONG\r\n")
	r.send("cde\r\n")
	r.expect("$5\r\nabcde\r\n")
}

func TestMaxConns(t *testing.T) {
	t.Parallel()
	ts := startServer(t, resp.Options{MaxConns: 2}, nil)
	for range 2 {
		r := ts.raw(t)
		r.send("PING\r\n")
		r.expect("+PONG\r\n")
	}
	r := ts.raw(t)
	r.expect("-ERR max number of clients reached\r\n")
	r.expectClosed()
}

func TestIdleTimeout(t *testing.T) {
	t.Parallel()
	ts := startServer(t, resp.Options{IdleTimeout: 100 * time.Millisecond}, nil)
	r := ts.raw(t)
	r.send("PING\r\n")
	r.expect("+PONG\r\n")
	start := time.Now()
	r.expectClosed()
	assert.GreaterOrEqual(t, time.Since(start), 80*time.Millisecond)
}

// A write deadline left over from an earlier flush must not fail a later write: here a reply
// too big for the buffer goes straight to the socket after the connection sat idle.
func TestLargeReplyAfterIdle(t *testing.T) {
	t.Parallel()
	ts := startServer(t, resp.Options{WriteTimeout: 50 * time.Millisecond}, nil)
	big := strings.Repeat("v", 100<<10)
	_, err := ts.store.Set([]byte("big"), []byte(big), resp.SetOptions{})
	require.NoError(t, err)
	r := ts.raw(t)
	r.send("PING\r\n")
	r.expect("+PONG\r\n")
	time.Sleep(150 * time.Millisecond)
	r.send("GET big\r\n")
	r.expect(fmt.Sprintf("$%d\r\n%s\r\n", len(big), big))
}

// gateStore blocks Get("slow") until released.
type gateStore struct {
	*resp.MemStore
	entered chan struct{}
	release chan struct{}
}

func (s *gateStore) Get(key []byte) ([]byte, bool, error) {
	if string(key) == "slow" {
		s.entered <- struct{}{}
		<-s.release
	}
	return s.MemStore.Get(key)
}

func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	mem := resp.NewMemStore(nil)
	gate := &gateStore{MemStore: mem, entered: make(chan struct{}), release: make(chan struct{})}
	ts := startServer(t, resp.Options{ShutdownTimeout: 10 * time.Second}, gate)
	_, err := mem.Set([]byte("slow"), []byte("done"), resp.SetOptions{})
	require.NoError(t, err)

	busy := ts.raw(t)
	idle := ts.raw(t)
	idle.send("PING\r\n")
	idle.expect("+PONG\r\n")
	busy.send("GET slow\r\nPING\r\n") // the PING is received, so it is in flight too
	<-gate.entered

	ts.cancel()
	idle.expectClosed()
	require.Eventually(t, func() bool {
		nc, err := net.DialTimeout("tcp", ts.addr, time.Second)
		if err == nil {
			_ = nc.Close()
		}
		return err != nil
	}, 5*time.Second, 10*time.Millisecond, "the listener is closed")
	select {
	case err := <-ts.done:
		t.Fatalf("Serve returned (%v) with a command in flight", err)
	case <-time.After(50 * time.Millisecond):
	}

	close(gate.release)
	busy.expect("$4\r\ndone\r\n+PONG\r\n")
	busy.expectClosed()
	select {
	case err := <-ts.done:
		require.NoError(t, err)
		ts.done <- err // for the cleanup
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
}

func TestShutdownTimeout(t *testing.T) {
	t.Parallel()
	gate := &gateStore{MemStore: resp.NewMemStore(nil), entered: make(chan struct{}), release: make(chan struct{})}
	t.Cleanup(func() { close(gate.release) })
	ts := startServer(t, resp.Options{ShutdownTimeout: 200 * time.Millisecond}, gate)
	stuck := ts.raw(t)
	stuck.send("GET slow\r\n")
	<-gate.entered
	start := time.Now()
	ts.cancel()
	select {
	case err := <-ts.done:
		require.NoError(t, err)
		ts.done <- err
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after ShutdownTimeout")
	}
	assert.GreaterOrEqual(t, time.Since(start), 200*time.Millisecond)
	stuck.expectClosed()
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	ts := startServer(t, resp.Options{Registerer: reg}, nil)
	r := ts.raw(t)
	r.send("SET k v\r\nGET k\r\nGET\r\nFOO\r\n")
	r.expect("+OK\r\n$1\r\nv\r\n-ERR wrong number of arguments for 'get' command\r\n-ERR unknown command 'FOO', with args beginning with: \r\n")

	families, err := reg.Gather()
	require.NoError(t, err)
	byName := map[string]*dto.MetricFamily{}
	for _, f := range families {
		byName[f.GetName()] = f
	}
	value := func(family string, labels map[string]string) float64 {
		f, ok := byName[family]
		require.True(t, ok, "metric %s", family)
	next:
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount())
			}
		}
		t.Fatalf("no %s%v", family, labels)
		return 0
	}
	assert.Equal(t, 1.0, value("kvdb_resp_commands_total", map[string]string{"command": "set", "result": "ok"}))
	assert.Equal(t, 1.0, value("kvdb_resp_commands_total", map[string]string{"command": "get", "result": "ok"}))
	assert.Equal(t, 1.0, value("kvdb_resp_commands_total", map[string]string{"command": "get", "result": "error"}))
	assert.Equal(t, 1.0, value("kvdb_resp_commands_total", map[string]string{"command": "unknown", "result": "error"}))
	assert.Equal(t, 2.0, value("kvdb_resp_command_duration_seconds", map[string]string{"command": "get"}))
	assert.Equal(t, 1.0, value("kvdb_resp_connections", nil))

	_, err = resp.New(resp.NewMemStore(nil), resp.Options{Registerer: reg})
	assert.Error(t, err, "registering twice on one registry fails")
}

func TestListenAndServe(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // free the port for ListenAndServe; a race with another process is unlikely

	srv, err := resp.New(resp.NewMemStore(nil), resp.Options{Addr: addr})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- srv.ListenAndServe(ctx) }()
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	require.Eventually(t, func() bool { return c.Ping(ctx).Err() == nil }, 5*time.Second, 10*time.Millisecond)
	cancel()
	require.NoError(t, <-done)

	srv, err = resp.New(resp.NewMemStore(nil), resp.Options{Addr: "127.0.0.1:bogus"})
	require.NoError(t, err)
	assert.ErrorContains(t, srv.ListenAndServe(t.Context()), "resp listen 127.0.0.1:bogus")
}

// Many clients at once, each on its own keys, under the race detector in CI.
func TestConcurrentClients(t *testing.T) {
	t.Parallel()
	ts := startServer(t, resp.Options{}, nil)
	c := redis.NewClient(&redis.Options{Addr: ts.addr, PoolSize: 16})
	t.Cleanup(func() { _ = c.Close() })
	ctx := t.Context()
	errs := make(chan error, 16)
	for w := range 16 {
		go func() {
			errs <- func() error {
				for i := range 200 {
					k, v := fmt.Sprintf("w%d:k%d", w, i%10), fmt.Sprintf("%d", i)
					if err := c.Set(ctx, k, v, 0).Err(); err != nil {
						return err
					}
					got, err := c.Get(ctx, k).Result()
					if err != nil {
						return err
					}
					if got != v {
						return fmt.Errorf("%s = %q, want %q", k, got, v)
					}
				}
				return nil
			}()
		}()
	}
	for range 16 {
		require.NoError(t, <-errs)
	}
	assert.Equal(t, int64(160), c.DBSize(ctx).Val())
}
