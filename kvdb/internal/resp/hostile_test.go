package resp_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/resp"
	"github.com/hyperscaledesignhub/DesignSystems/shared/testkit"
)

// An MGET of a million keys (the most a command may carry) is answered with a million values.
// The reader's cost is shown linear by TestReaderLinearInArguments; this is the whole path.
func TestMGetOfAMillionKeys(t *testing.T) {
	t.Parallel()
	ts := startServer(t, resp.Options{}, nil)
	r := ts.raw(t)
	r.send("SET k v\r\n")
	r.expect("+OK\r\n")
	n := resp.DefaultMaxArgs - 1
	var req bytes.Buffer
	fmt.Fprintf(&req, "*%d\r\n$4\r\nMGET\r\n", n+1)
	for range n {
		req.WriteString("$1\r\nk\r\n")
	}
	go func() { _, _ = r.nc.Write(req.Bytes()) }()
	require.NoError(t, r.nc.SetReadDeadline(time.Now().Add(time.Minute)))
	line, err := r.br.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "*"+strconv.Itoa(n)+"\r\n", line)
	want := bytes.Repeat([]byte("$1\r\nv\r\n"), n)
	got := make([]byte, len(want))
	_, err = io.ReadFull(r.br, got)
	require.NoError(t, err)
	require.True(t, bytes.Equal(want, got), "a million values")
	// One argument more is refused from the header, as Redis does, and the connection closed.
	r = ts.raw(t)
	r.send(fmt.Sprintf("*%d\r\n", resp.DefaultMaxArgs+1))
	r.expect("-ERR Protocol error: invalid multibulk length\r\n")
	r.expectClosed()
}

// countingStore counts Get calls and reports the first.
type countingStore struct {
	resp.Store
	gets  atomic.Int64
	first chan struct{}
}

func (s *countingStore) Get(key []byte) ([]byte, bool, error) {
	if s.gets.Add(1) == 1 {
		close(s.first)
	}
	return s.Store.Get(key)
}

// pipeListener hands out one in-memory connection, then waits for Close.
type pipeListener struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}
func (l *pipeListener) Close() error   { l.once.Do(func() { close(l.closed) }); return nil }
func (l *pipeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// A client that sends a long pipeline and goes away does not keep the server working through
// what it sent: once a write of replies fails, the commands still buffered are dropped, as
// Redis frees a client whose write failed.
func TestGoneClientStopsWork(t *testing.T) {
	t.Parallel()
	mem := resp.NewMemStore(nil)
	_, err := mem.Set([]byte("big"), bytes.Repeat([]byte("x"), 4096), resp.SetOptions{})
	require.NoError(t, err)
	store := &countingStore{Store: mem, first: make(chan struct{})}
	srv, err := resp.New(store, resp.Options{})
	require.NoError(t, err)
	server, client := net.Pipe()
	ln := &pipeListener{conns: make(chan net.Conn, 1), closed: make(chan struct{})}
	ln.conns <- server
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()

	// A pipeline of GETs whose replies (4 KiB each) are never read: the server reads 8 KiB of
	// it (~900 GETs), and its reply buffer fills after two.
	go func() { _, _ = client.Write([]byte(strings.Repeat("GET big\r\n", 100_000))) }()
	<-store.first
	require.NoError(t, client.Close())
	cancel()
	require.NoError(t, <-done)
	t.Logf("%d GETs run", store.gets.Load())
	assert.Less(t, store.gets.Load(), int64(10), "GETs run for a client that had gone")
}

// expectDropped checks that the server closed the connection without a reply. The server may
// close with the rest of the request unread, which the kernel answers with a reset.
func (r *raw) expectDropped() {
	r.t.Helper()
	require.NoError(r.t, r.nc.SetReadDeadline(time.Now().Add(5*time.Second)))
	b, err := r.br.ReadByte()
	if !errors.Is(err, syscall.ECONNRESET) {
		require.ErrorIs(r.t, err, io.EOF, "read %q", b)
	}
}

// An HTTP request sent to the RESP port (a web page in a browser on the same machine can make
// one) must not run the commands in its body: the server drops the connection at "POST" or
// "Host:", as Redis does. The first case is exactly what
// curl --data-binary $'SET pwned owned\r\n' http://127.0.0.1:8201/ sends.
func TestCrossProtocolRequestsAreDropped(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	ts := startServer(t, resp.Options{Registerer: reg}, nil)
	// The replies to lines before "Host:" are dropped too (Redis does not write to a client it
	// is closing), so the browser sees nothing.
	for _, tc := range []struct{ name, in string }{
		{"curl POST", "POST / HTTP/1.1\r\nHost: 127.0.0.1:8201\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n" +
			"Content-Length: 17\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\nSET pwned owned\r\n"},
		{"browser fetch PUT", "PUT /x HTTP/1.1\r\nHost: localhost:8201\r\nOrigin: http://evil.example\r\n" +
			"Content-Type: text/plain\r\nContent-Length: 17\r\n\r\nSET pwned owned\r\n"},
		{"lower-case host", "GET / HTTP/1.1\r\nhost: x\r\n\r\nSET pwned owned\r\n"},
		{"POST as a RESP array", "*1\r\n$4\r\npost\r\n*3\r\n$3\r\nSET\r\n$5\r\npwned\r\n$5\r\nowned\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ts.raw(t)
			r.send(tc.in)
			r.expectDropped()
		})
	}
	r := ts.raw(t)
	r.send("EXISTS pwned\r\n")
	r.expect(":0\r\n")
	dropped := testkit.MetricSum(t, reg, "kvdb_resp_commands_total", "command", "post") +
		testkit.MetricSum(t, reg, "kvdb_resp_commands_total", "command", "host:")
	assert.Equal(t, 4.0, dropped, "kvdb_resp_commands_total{command=\"post\"|\"host:\"}")
}

// With a password set, nothing but AUTH, HELLO and QUIT runs before the client authenticates,
// and the replies are Redis's.
func TestAuth(t *testing.T) {
	t.Parallel()
	ts := startServer(t, resp.Options{Password: "s3cret"}, nil)
	r := ts.raw(t)
	r.send("SET k v\r\nGET k\r\nPING\r\nHELLO 2\r\nNOSUCH\r\nGET\r\n")
	r.expect("-NOAUTH Authentication required.\r\n-NOAUTH Authentication required.\r\n-NOAUTH Authentication required.\r\n" +
		"-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time\r\n" +
		"-ERR unknown command 'NOSUCH', with args beginning with: \r\n" +
		"-ERR wrong number of arguments for 'get' command\r\n")
	r.send("AUTH wrong\r\nAUTH s3cre\r\nAUTH s3cretX\r\nAUTH bob s3cret\r\nAUTH Default s3cret\r\nAUTH a b c\r\nAUTH\r\nGET k\r\n")
	wrong := "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
	r.expect(strings.Repeat(wrong, 5) + "-ERR syntax error\r\n-ERR wrong number of arguments for 'auth' command\r\n" +
		"-NOAUTH Authentication required.\r\n")
	r.send("AUTH s3cret\r\nGET k\r\nSET k v\r\nGET k\r\n")
	r.expect("+OK\r\n$-1\r\n+OK\r\n$1\r\nv\r\n")

	r = ts.raw(t)
	r.send("AUTH default s3cret\r\nGET k\r\n")
	r.expect("+OK\r\n$1\r\nv\r\n")

	r = ts.raw(t)
	r.send("HELLO 2 AUTH default wrong\r\nGET k\r\nHELLO 2 AUTH default s3cret SETNAME app\r\n")
	r.expect(wrong + "-NOAUTH Authentication required.\r\n*14\r\n$6\r\nserver\r\n$4\r\nkvdb\r\n")

	r = ts.raw(t)
	r.send("QUIT\r\n")
	r.expect("+OK\r\n")
	r.expectClosed()
}

// go-redis sends HELLO 3 AUTH (answered NOPROTO), then AUTH: with the password it works,
// without or with a wrong one every command fails with Redis's error.
func TestAuthWithGoRedis(t *testing.T) {
	t.Parallel()
	ts := startServer(t, resp.Options{Password: "s3cret"}, nil)
	ctx := t.Context()
	for _, tc := range []struct {
		name           string
		user, password string
		want           string // error text; empty: works
	}{
		{"password", "", "s3cret", ""},
		{"default user", "default", "s3cret", ""},
		{"wrong password", "", "nope", "WRONGPASS invalid username-password pair or user is disabled."},
		{"no password", "", "", "NOAUTH Authentication required."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := redis.NewClient(&redis.Options{Addr: ts.addr, Username: tc.user, Password: tc.password})
			defer c.Close()
			err := c.Set(ctx, "gk", tc.name, 0).Err()
			if tc.want != "" {
				require.Error(t, err)
				assert.Equal(t, tc.want, err.Error())
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.name, c.Get(ctx, "gk").Val())
		})
	}
}
