package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/chat"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/fanout"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/limit"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/memstore"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/protocol"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/send"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/snowflake"
)

// waitFor bounds every wait of these tests: generous, because a loaded 2-core machine under
// -race is slow, and no test asserts how fast something happens.
const waitFor = 20 * time.Second

// fakeVerifier accepts "user:<id>" and rejects "expired:<id>" as expired; anything else is bad.
type fakeVerifier struct{}

func (fakeVerifier) Verify(token string) (int64, time.Time, error) {
	if s, ok := strings.CutPrefix(token, "user:"); ok {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, time.Time{}, errors.New("bad subject")
		}
		return id, time.Now().Add(time.Hour), nil
	}
	if strings.HasPrefix(token, "expired:") {
		return 0, time.Time{}, fmt.Errorf("verify: %w", ErrTokenExpired)
	}
	return 0, time.Time{}, errors.New("invalid token")
}

func token(user int64) string { return "user:" + strconv.FormatInt(user, 10) }

// env is a set of gateway nodes sharing one store and one bus, as a deployment would.
type env struct {
	store *memstore.Store
	bus   *fanout.Memory
	gws   []*Gateway
	regs  []*prometheus.Registry
	urls  []string
}

type envOpts struct {
	nodes    int
	tune     func(*Options)
	send     func(*send.Options) // tunes each node's send use case (built after tune)
	smallBuf bool                // tiny socket write buffers, so a client that does not read fills them quickly
}

func newEnv(t *testing.T, eo envOpts) *env {
	t.Helper()
	ids, err := snowflake.New(1, time.Now)
	require.NoError(t, err)
	e := &env{store: memstore.New(ids), bus: fanout.NewMemory()}
	t.Cleanup(func() { _ = e.bus.Close() })
	for range max(eo.nodes, 1) {
		reg := prometheus.NewRegistry()
		o := Options{Store: e.store, Bus: e.bus, Verifier: fakeVerifier{}, Registerer: reg, Logger: slog.New(slog.DiscardHandler)}
		if eo.tune != nil {
			eo.tune(&o)
		}
		so := send.Options{Store: o.Store, Publisher: send.BusPublisher{Bus: o.Bus}, Limit: limit.New[int64](1000, 1000, nil),
			Registerer: reg, Logger: o.Logger}
		if eo.send != nil {
			eo.send(&so)
		}
		o.Sender, err = send.New(so)
		require.NoError(t, err)
		g, err := New(o)
		require.NoError(t, err)
		srv := httptest.NewUnstartedServer(g)
		if eo.smallBuf {
			srv.Listener = smallBufListener{srv.Listener}
		}
		srv.Start()
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), waitFor)
			defer cancel()
			_ = g.Shutdown(ctx)
			srv.Close()
		})
		e.gws = append(e.gws, g)
		e.regs = append(e.regs, reg)
		e.urls = append(e.urls, "ws"+strings.TrimPrefix(srv.URL, "http")+"/ws")
	}
	return e
}

type smallBufListener struct{ net.Listener }

func (l smallBufListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4096)
	}
	return c, err
}

func (e *env) users(t *testing.T, names ...string) []int64 {
	t.Helper()
	out := make([]int64, len(names))
	for i, n := range names {
		u, err := e.store.CreateUser(context.Background(), chat.User{Username: n})
		require.NoError(t, err)
		out[i] = u.ID
	}
	return out
}

// client is a test WebSocket client; a goroutine decodes every server frame into frames.
type client struct {
	t       *testing.T
	ws      *websocket.Conn
	frames  chan protocol.ServerFrame
	done    chan struct{}
	err     error // why the reader stopped; read after done
	ready   protocol.Ready
	skipped []protocol.ServerFrame // frames skipped while waiting for an ack, in order
	merged  atomic.Int64           // WebSocket messages that carried more than one frame
}

// dialRaw opens a WebSocket without authenticating and without a reader goroutine.
func dialRaw(t *testing.T, url string, h http.Header, smallBuf bool) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	opts := &websocket.DialOptions{HTTPHeader: h}
	if smallBuf {
		opts.HTTPClient = &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetReadBuffer(4096)
			}
			return c, err
		}}}
	}
	ws, _, err := websocket.Dial(ctx, url, opts)
	require.NoError(t, err)
	ws.SetReadLimit(1 << 20)
	t.Cleanup(func() { _ = ws.CloseNow() })
	return ws
}

// startReader starts decoding frames of ws into a client.
func startReader(t *testing.T, ws *websocket.Conn) *client {
	c := &client{t: t, ws: ws, frames: make(chan protocol.ServerFrame, 100000), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for {
			_, b, err := ws.Read(context.Background())
			if err != nil {
				c.err = err
				return
			}
			// A client that dialled with ?batch=1 may get several frames, '\n'-separated.
			lines := bytes.Split(b, []byte("\n"))
			if len(lines) > 1 {
				c.merged.Add(1)
			}
			for _, line := range lines {
				f, err := protocol.DecodeServer(line)
				if err != nil {
					c.err = err
					return
				}
				c.frames <- f
			}
		}
	}()
	return c
}

// connect dials url, authenticates as user and waits for ready.
func connect(t *testing.T, url string, user int64) *client {
	t.Helper()
	c := startReader(t, dialRaw(t, url, nil, false))
	c.send(protocol.Auth{Token: token(user)})
	c.ready = expectFrame[protocol.Ready](c)
	return c
}

func (c *client) send(f protocol.Frame) {
	c.t.Helper()
	b, err := protocol.EncodeClient(f)
	require.NoError(c.t, err)
	c.sendRaw(b)
}

func (c *client) sendRaw(b []byte) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	require.NoError(c.t, c.ws.Write(ctx, websocket.MessageText, b))
}

// next returns the next frame, failing the test when none comes.
func (c *client) next() protocol.ServerFrame {
	c.t.Helper()
	select {
	case f := <-c.frames:
		return f
	case <-c.done:
		select {
		case f := <-c.frames:
			return f
		default:
		}
		c.t.Fatalf("connection ended: %v", c.err)
	case <-time.After(waitFor):
		c.t.Fatalf("no frame within %s", waitFor)
	}
	return nil
}

// expectFrame skips presence and typing frames and returns the next frame, which must be a T.
func expectFrame[T protocol.ServerFrame](c *client) T {
	c.t.Helper()
	for {
		f := c.next()
		switch f.(type) {
		case protocol.Presence, protocol.UserTyping, protocol.Receipt:
			if _, want := any(f).(T); !want {
				continue
			}
		}
		v, ok := f.(T)
		require.Truef(c.t, ok, "want %T, got %#v", *new(T), f)
		return v
	}
}

// expectError returns the next error frame and checks its code.
func (c *client) expectError(code protocol.ErrorCode) protocol.ErrorFrame {
	c.t.Helper()
	ef := expectFrame[protocol.ErrorFrame](c)
	require.Equal(c.t, code, ef.Code, ef.Message)
	return ef
}

// closeStatus waits until the server closed the connection and returns the close code.
func (c *client) closeStatus() websocket.StatusCode {
	c.t.Helper()
	select {
	case <-c.done:
	case <-time.After(waitFor):
		c.t.Fatalf("connection still open after %s", waitFor)
	}
	return websocket.CloseStatus(c.err)
}

// sendText sends a text message and returns its ack.
func (c *client) sendText(conv int64, cmid, body string) protocol.Ack {
	c.t.Helper()
	c.send(protocol.Send{ConversationID: protocol.ID(conv), ClientMsgID: cmid, Body: body})
	for {
		f := c.next()
		if a, ok := f.(protocol.Ack); ok && a.ClientMsgID == cmid {
			return a
		}
		if ef, ok := f.(protocol.ErrorFrame); ok {
			c.t.Fatalf("send %s: %+v", cmid, ef)
		}
		c.t.Helper()
		c.push(f)
	}
}

func (c *client) push(f protocol.ServerFrame) { c.skipped = append(c.skipped, f) }

func (c *client) popPushed() []protocol.ServerFrame {
	out := c.skipped
	c.skipped = nil
	return out
}

// messages collects message frames per conversation until want has been reached for every
// conversation listed, checking that they come exactly once each, in seq order from 1.
func (c *client) messages(want map[int64]int64) map[int64][]protocol.Message {
	c.t.Helper()
	got := map[int64][]protocol.Message{}
	complete := func() bool {
		for conv, n := range want {
			if int64(len(got[conv])) < n {
				return false
			}
		}
		return true
	}
	take := func(f protocol.ServerFrame) {
		m, ok := f.(protocol.Message)
		if !ok {
			return
		}
		conv := int64(m.ConversationID)
		require.Equal(c.t, int64(len(got[conv])+1), m.Seq, "conversation %d: out of order or duplicate", conv)
		got[conv] = append(got[conv], m)
	}
	for _, f := range c.popPushed() {
		take(f)
	}
	for !complete() {
		take(c.next())
	}
	return got
}
