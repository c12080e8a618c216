// Package gateway is the chat WebSocket gateway: it authenticates client sessions, streams every
// conversation's log to them exactly once and in order across reconnects (sync.go), accepts
// sends, edits, deletes, typing and receipts, and fans frames out between gateway nodes through
// a fanout.Bus. The wire protocol it implements is docs/protocol.md.
package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/chat"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/fanout"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/limit"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/presence"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/protocol"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/send"
)

// Defaults of Options, from the limits table of docs/protocol.md.
const (
	DefaultSendQueue = 1024 // frames per connection

	// TransportReadLimit is the largest WebSocket message the gateway reads; a bigger one closes
	// the connection with 1009 without being buffered.
	TransportReadLimit = 64 << 10
	// MaxBatchedMessageBytes bounds a WebSocket message that carries several frames (?batch=1).
	MaxBatchedMessageBytes = 64 << 10
	// WriteTimeout is the default of Options.WriteTimeout: it bounds one batch of socket writes; a
	// client that does not take a frame in time is a
	// slow consumer (4008).
	WriteTimeout = 10 * time.Second
	// MaxErrorsPerMinute protocol errors caused by one connection close it with 1008.
	MaxErrorsPerMinute = 20
	// ReceiptInterval coalesces receipts: at most one per user, conversation and kind.
	ReceiptInterval = time.Second
	// maxInFlightSends per connection: past it the reader stops reading until a batch returns,
	// so one client cannot queue unbounded work (TCP back-pressure reaches it).
	maxInFlightSends = 64
	// syncPage is how many messages one Store.Since call reads while streaming a gap.
	syncPage = chat.MaxPageSize
)

// ErrTokenExpired is what a Verifier returns (or wraps) for an expired token, so the gateway
// answers token_expired instead of auth_failed. Any other error is an invalid token.
var ErrTokenExpired = errors.New("token expired")

// Verifier checks an access token: auth.Tokens behind an adapter that maps its expiry error to
// ErrTokenExpired.
type Verifier interface {
	Verify(token string) (user int64, expires time.Time, err error)
}

// Options configure a Gateway. Store, Bus and Verifier are required.
type Options struct {
	Store      chat.Store
	Bus        fanout.Bus
	Verifier   Verifier
	Presence   presence.Tracker // nil: no presence tracking
	Logger     *slog.Logger     // (slog.Default())
	Registerer prometheus.Registerer
	// Sender is the send use case (rate limit, group commit, publish, notification hook, metrics),
	// the one the HTTP API of the deployment uses too. Nil: one for this gateway alone, publishing
	// on Bus, with the default budget, its metrics registered on Registerer.
	Sender *send.Service

	// AllowedOrigins are the browser origins allowed to connect (coder/websocket OriginPatterns,
	// host patterns such as "chat.example.com" or "*.example.com"); the request's own host is
	// always allowed and native clients send no Origin.
	AllowedOrigins []string
	SendQueue      int           // per-connection bounded send queue (DefaultSendQueue); full → close 4008
	Heartbeat      time.Duration // (protocol.DefaultHeartbeat); nothing received for 2× → close 4003
	MaxFrameBytes  int           // (protocol.DefaultMaxFrameBytes) → error frame_too_large
	WriteTimeout   time.Duration // (WriteTimeout) a batch of writes not done by then → close 4008
	// PresenceGroupLimit is the largest conversation whose members get each other's presence
	// changes pushed (DefaultPresenceGroupLimit); larger ones answer presence_query instead.
	// PresenceNotifier must be given the same value.
	PresenceGroupLimit int
	// MaxSessionsPerUser caps one user's sessions on this gateway (DefaultMaxSessionsPerUser):
	// a session authenticating beyond it closes the user's oldest with 4009.
	MaxSessionsPerUser int
}

// DefaultMaxSessionsPerUser is the default of Options.MaxSessionsPerUser: phones, tablets,
// desktops and a dozen browser tabs, with room for stale sessions awaiting their heartbeat timeout.
const DefaultMaxSessionsPerUser = 20

// Gateway serves the chat WebSocket endpoint. It is an http.Handler.
type Gateway struct {
	o       Options
	log     *slog.Logger
	limits  protocol.Limits
	m       *metrics
	sender  *send.Service
	typing  *limit.Keyed[[2]int64] // one typing event per (user, conversation) per TypingMinInterval
	receipt *receiptCoalescer
	// presenceQueries is each user's budget of presence_query frames.
	presenceQueries *limit.Keyed[int64]

	stopWatch chan struct{} // ends the watchdog (Shutdown)
	stopOnce  sync.Once

	mu    sync.Mutex
	conns map[*conn]struct{}
	// sessions are each user's authenticated sessions, oldest first (the per-user cap).
	sessions map[int64][]*conn
	closing  bool
	wg       sync.WaitGroup
}

// New checks o, fills in defaults and registers the metrics.
func New(o Options) (*Gateway, error) {
	switch {
	case o.Store == nil:
		return nil, errors.New("gateway: Store is required")
	case o.Bus == nil:
		return nil, errors.New("gateway: Bus is required")
	case o.Verifier == nil:
		return nil, errors.New("gateway: Verifier is required")
	case o.SendQueue < 0, o.Heartbeat < 0, o.MaxFrameBytes < 0, o.PresenceGroupLimit < 0, o.MaxSessionsPerUser < 0:
		return nil, errors.New("gateway: negative limit")
	case o.MaxFrameBytes > TransportReadLimit:
		return nil, fmt.Errorf("gateway: MaxFrameBytes %d above the transport read limit %d", o.MaxFrameBytes, TransportReadLimit)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.SendQueue == 0 {
		o.SendQueue = DefaultSendQueue
	}
	if o.Heartbeat == 0 {
		o.Heartbeat = protocol.DefaultHeartbeat
	}
	if o.MaxFrameBytes == 0 {
		o.MaxFrameBytes = protocol.DefaultMaxFrameBytes
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = WriteTimeout
	}
	if o.PresenceGroupLimit == 0 {
		o.PresenceGroupLimit = DefaultPresenceGroupLimit
	}
	if o.MaxSessionsPerUser == 0 {
		o.MaxSessionsPerUser = DefaultMaxSessionsPerUser
	}
	reg := o.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	if o.Sender == nil {
		if o.Sender, err = send.New(send.Options{Store: o.Store, Publisher: send.BusPublisher{Bus: o.Bus},
			Registerer: reg, Logger: o.Logger}); err != nil {
			return nil, err
		}
	}
	g := &Gateway{
		o:      o,
		log:    o.Logger,
		limits: protocol.Limits{MaxFrameBytes: o.MaxFrameBytes},
		m:      m,
		sender: o.Sender,
		typing: limit.New[[2]int64](1/protocol.TypingMinInterval.Seconds(), 1, nil),
		conns:  map[*conn]struct{}{},

		presenceQueries: limit.New[int64](PresenceQueryRate, PresenceQueryBurst, nil),
		sessions:        map[int64][]*conn{},
	}
	g.receipt = newReceiptCoalescer(ReceiptInterval, g.publishReceipt)
	g.stopWatch = make(chan struct{})
	go g.watchdog()
	return g, nil
}

// ServeHTTP upgrades the request to a WebSocket and runs the session until it ends.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	if g.closing {
		g.mu.Unlock()
		w.Header().Set("Retry-After", "1")
		http.Error(w, "server going away", http.StatusServiceUnavailable)
		return
	}
	g.wg.Add(1)
	g.mu.Unlock()
	defer g.wg.Done()

	// A WebSocket outlives the HTTP server's read and write timeouts, which would otherwise stay
	// armed on the hijacked connection; the session enforces its own (heartbeat, WriteTimeout).
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: g.o.AllowedOrigins})
	if err != nil {
		g.log.Debug("websocket upgrade refused", "err", err, "origin", r.Header.Get("Origin"))
		return // Accept wrote the response (403 for a bad origin)
	}
	ws.SetReadLimit(TransportReadLimit)
	c := newConn(g, ws, newSessionID())
	c.batch = r.URL.Query().Get("batch") == "1" // protocol.md §1: several frames per message

	g.mu.Lock()
	closing := g.closing
	g.conns[c] = struct{}{}
	g.mu.Unlock()
	if closing {
		c.fail(protocol.CloseGoingAway)
	}
	g.m.connections.Inc()
	defer func() {
		g.m.connections.Dec()
		g.mu.Lock()
		delete(g.conns, c)
		g.unregisterLocked(c)
		g.mu.Unlock()
	}()
	c.run(r.Header.Get("Authorization"))
}

// register records c as user's newest session. At the per-user cap it closes the oldest with
// 4009 rather than refuse c: after a network cut the oldest is most likely a dead socket still
// waiting for its heartbeat timeout, while c is the person at the keyboard (protocol.md §12).
func (g *Gateway) register(c *conn, user int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := append(g.sessions[user], c)
	for len(s) > g.o.MaxSessionsPerUser {
		s[0].log.Info("session closed: per-user session cap", "cap", g.o.MaxSessionsPerUser)
		s[0].fail(protocol.CloseSessionLimit)
		g.m.sessionCapCloses.Inc()
		s = s[1:]
	}
	g.sessions[user] = s
}

// unregisterLocked forgets c's registration (a no-op for a session never authenticated or
// already evicted); g.mu is held.
func (g *Gateway) unregisterLocked(c *conn) {
	s := slices.DeleteFunc(g.sessions[c.user], func(x *conn) bool { return x == c })
	if len(s) == 0 {
		delete(g.sessions, c.user)
	} else {
		g.sessions[c.user] = s
	}
}

// Shutdown closes every connection with 1001 (going away: reconnect and resync) and waits until
// their sessions ended or ctx is done. New upgrades get 503 from then on.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.mu.Lock()
	g.closing = true
	for c := range g.conns {
		c.fail(protocol.CloseGoingAway)
	}
	g.mu.Unlock()
	g.receipt.stop()
	g.stopOnce.Do(func() { close(g.stopWatch) })
	done := make(chan struct{})
	go func() {
		g.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("gateway shutdown: %w", ctx.Err())
	}
	// Sends read before the sessions ended are stored and published before we return.
	if err := g.sender.Wait(ctx); err != nil {
		return fmt.Errorf("gateway shutdown: sends still being stored: %w", err)
	}
	return nil
}

// watchdog closes, as slow consumers (4008), the connections whose writer has been stuck on one
// batch for more than Options.WriteTimeout: checked every quarter of it, so within 1.25 × it.
func (g *Gateway) watchdog() {
	t := time.NewTicker(g.o.WriteTimeout / 4)
	defer t.Stop()
	for {
		select {
		case <-g.stopWatch:
			return
		case now := <-t.C:
			g.mu.Lock()
			var stuck []*conn
			for c := range g.conns {
				if c.stalled(now.UnixNano()) {
					stuck = append(stuck, c)
				}
			}
			g.mu.Unlock()
			for _, c := range stuck {
				c.slow()
				_ = c.ws.CloseNow() // unblocks the Write
			}
		}
	}
}

// publishReceipt fans a (coalesced) receipt out to the conversation's members.
func (g *Gateway) publishReceipt(k receiptKey, seq int64) {
	b, err := protocol.Encode(protocol.Receipt{ConversationID: protocol.ID(k.conv), UserID: protocol.ID(k.user),
		Kind: k.kind, Seq: seq})
	if err != nil {
		g.log.Error("encode receipt", "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := g.o.Bus.Publish(ctx, fanout.ConversationTopic(k.conv), fanout.Event{From: k.user, Frame: b}); err != nil {
		g.log.Warn("publish receipt", "conversation", k.conv, "err", err)
	}
}

func newSessionID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return "s-" + hex.EncodeToString(b[:])
}
