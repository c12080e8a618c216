package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/chat"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/fanout"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/protocol"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/send"
)

// conn is one client session. Its goroutines:
//
//   - run (the ServeHTTP goroutine) waits for the end, sends the close frame and cleans up;
//   - the reader reads and handles client frames in order (sends go to the appender, whose
//     batch goroutine acks and publishes them);
//   - the writer drains the send queue to the socket;
//   - the syncer streams sync gaps and fills holes (sync.go), so a long sync never stops the
//     reader from answering pings or accepting sends;
//   - bus goroutines call onConvEvent/onUserEvent, which only take c.mu briefly and queue.
type conn struct {
	g       *Gateway
	ws      *websocket.Conn
	session string
	log     *slog.Logger
	q       *sendQueue

	done      chan struct{} // closed by fail: the session is ending
	closeOnce sync.Once
	closeCode atomic.Int32

	writing  atomic.Int64 // unix ns when the writer's current batch started; 0 when idle
	user     int64        // set once by auth, before the writer and syncer start
	batch    bool         // the client takes several frames per WebSocket message, '\n'-separated
	lastAct  atomic.Int64
	errMu    sync.Mutex
	errTimes []time.Time

	// Sync state (sync.go), guarded by mu.
	mu         sync.Mutex
	convs      map[int64]*convState
	subs       []func()
	subscribed bool // the first sync frame subscribed the user's conversations

	syncJobs chan protocol.Sync
	kick     chan struct{} // capacity 1: a live conversation found a hole to fill
	sends    chan struct{} // capacity maxInFlightSends: sends queued in the appender
}

func newConn(g *Gateway, ws *websocket.Conn, session string) *conn {
	return &conn{
		g: g, ws: ws, session: session,
		log:      g.log.With("session", session),
		q:        newSendQueue(g.o.SendQueue),
		done:     make(chan struct{}),
		convs:    map[int64]*convState{},
		syncJobs: make(chan protocol.Sync, 16),
		kick:     make(chan struct{}, 1),
		sends:    make(chan struct{}, maxInFlightSends),
	}
}

// fail ends the session with code; the first code wins. It never blocks: run sends the close frame.
func (c *conn) fail(code protocol.CloseCode) {
	c.closeOnce.Do(func() {
		c.closeCode.Store(int32(code))
		close(c.done)
		c.q.close()
	})
}

// slow closes a slow consumer with 4008; it resyncs from its last_seq and loses nothing.
func (c *conn) slow() {
	select {
	case <-c.done:
		return
	default:
	}
	c.g.m.slowConsumer.Inc()
	c.log.Info("slow consumer closed")
	c.fail(protocol.CloseSlowConsumer)
}

// run serves the session until it ends. authHeader is the upgrade's Authorization header.
func (c *conn) run(authHeader string) {
	authTimer := time.AfterFunc(protocol.AuthTimeout, func() { c.fail(protocol.CloseAuthTimeout) })
	var expiry *time.Timer
	var wg sync.WaitGroup
	started := make(chan struct{}) // closed once authenticated: writer and syncer run
	startSession := func(user int64, expires time.Time) {
		authTimer.Stop()
		c.user = user
		c.log = c.log.With("user", user)
		c.lastAct.Store(time.Now().UnixNano())
		if !expires.IsZero() {
			expiry = time.AfterFunc(time.Until(expires), func() {
				c.writeDirect(protocol.ErrorFrame{Code: protocol.CodeTokenExpired, Message: "token expired; get a new one and reconnect", Ref: "auth"})
				c.fail(protocol.CloseAuthFailed)
			})
		}
		wg.Add(3)
		go func() { defer wg.Done(); c.writer() }()
		go func() { defer wg.Done(); c.syncer() }()
		go func() { defer wg.Done(); c.pinger() }()
		close(started)
	}

	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		c.reader(authHeader, startSession)
	}()

	<-c.done
	code := protocol.CloseCode(c.closeCode.Load())
	authTimer.Stop()
	// Close writes the close frame (waiting up to 5 s for a writer blocked on a full socket) and
	// waits for the peer's; it also unblocks the reader.
	_ = c.ws.Close(websocket.StatusCode(code), code.Reason())
	<-readerDone
	if expiry != nil { // set by the reader
		expiry.Stop()
	}
	wg.Wait()

	c.mu.Lock()
	subs := c.subs
	c.subs = nil
	for _, st := range c.convs {
		if st.cancel != nil {
			subs = append(subs, st.cancel)
		}
	}
	c.convs = map[int64]*convState{}
	c.mu.Unlock()
	for _, cancel := range subs {
		cancel()
	}
	select {
	case <-started:
		if p := c.g.o.Presence; p != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := p.Disconnect(ctx, c.user, c.session); err != nil {
				c.log.Warn("presence disconnect", "err", err)
			}
			cancel()
		}
	default:
	}
	c.log.Debug("session closed", "code", int(code))
}

// peerClosed is the close code recorded when the peer (or the network) ended the session.
const peerClosed protocol.CloseCode = protocol.CloseNormal

// reader reads frames until the connection ends. Before authentication it accepts only auth.
func (c *conn) reader(authHeader string, start func(int64, time.Time)) {
	ctx := context.Background()
	authed := false
	if token, ok := strings.CutPrefix(authHeader, "Bearer "); ok && token != "" {
		if !c.authenticate(ctx, token, start) {
			return
		}
		authed = true
	}
	hbTimeout := protocol.HeartbeatTimeout(c.g.o.Heartbeat)
	idle := time.AfterFunc(hbTimeout, func() { c.fail(protocol.CloseHeartbeatTimeout) })
	defer idle.Stop()
	for {
		// Read's context is not the session's: cancelling it would drop the TCP connection
		// before the close frame with our code was sent. Close unblocks the read instead.
		typ, b, err := c.ws.Read(ctx)
		if err != nil {
			if errors.Is(err, websocket.ErrMessageTooBig) {
				c.g.m.frames.WithLabelValues("in", "too_big").Inc()
				c.fail(protocol.CloseMessageTooBig) // the library already sent 1009
			}
			c.fail(peerClosed)
			return
		}
		idle.Reset(hbTimeout)
		if typ != websocket.MessageText {
			c.g.m.frames.WithLabelValues("in", "binary").Inc()
			c.fail(protocol.ClosePolicyViolation)
			return
		}
		f, err := c.g.limits.Decode(b)
		if err != nil {
			c.g.m.frames.WithLabelValues("in", "invalid").Inc()
			var de *protocol.DecodeError
			if !errors.As(err, &de) {
				de = &protocol.DecodeError{Code: protocol.CodeInvalidFrame, Reason: err.Error()}
			}
			if !authed {
				c.writeDirect(de.Frame())
				c.fail(protocol.CloseAuthFailed)
				return
			}
			c.sendError(de.Frame())
			continue
		}
		c.g.m.counter("in", f.FrameType()).Inc()
		if !authed {
			a, ok := f.(protocol.Auth)
			if !ok {
				c.writeDirect(protocol.ErrorFrame{Code: protocol.CodeAuthRequired,
					Message: "the first frame must be auth", Ref: string(f.FrameType())})
				c.fail(protocol.CloseAuthFailed)
				return
			}
			if !c.authenticate(ctx, a.Token, start) {
				return
			}
			authed = true
			continue
		}
		if !c.handle(ctx, f) {
			return
		}
	}
}

// authenticate verifies token; on success it starts the session and queues ready, otherwise it
// answers auth_failed or token_expired and closes 4001.
func (c *conn) authenticate(ctx context.Context, token string, start func(int64, time.Time)) bool {
	user, expires, err := c.g.o.Verifier.Verify(token)
	if err == nil && !expires.IsZero() && !time.Now().Before(expires) {
		err = ErrTokenExpired
	}
	if err != nil {
		ef := protocol.ErrorFrame{Code: protocol.CodeAuthFailed, Message: "invalid token", Ref: "auth"}
		if errors.Is(err, ErrTokenExpired) {
			ef = protocol.ErrorFrame{Code: protocol.CodeTokenExpired, Message: "token expired; get a new one and reconnect", Ref: "auth"}
		}
		c.writeDirect(ef)
		c.fail(protocol.CloseAuthFailed)
		return false
	}
	c.g.register(c, user)
	start(user, expires)
	c.enqueue(protocol.Ready{UserID: protocol.ID(user), SessionID: c.session,
		HeartbeatMS: c.g.o.Heartbeat.Milliseconds(), MaxFrameBytes: c.g.o.MaxFrameBytes,
		MaxBodyBytes: protocol.DefaultMaxBodyBytes})
	if p := c.g.o.Presence; p != nil {
		if err := p.Connect(ctx, user, c.session); err != nil {
			c.log.Warn("presence connect", "err", err)
		}
	}
	// User-addressed frames (presence, membership changes) are ephemeral: live as they come.
	cancel, err := c.g.o.Bus.Subscribe(fanout.UserTopic(user), c.onUserEvent)
	if err != nil {
		c.log.Error("subscribe user topic", "err", err)
		c.fail(protocol.CloseInternalError)
		return false
	}
	c.addSub(cancel)
	c.presenceSnapshot(ctx)
	return true
}

func (c *conn) addSub(cancel func()) {
	c.mu.Lock()
	c.subs = append(c.subs, cancel)
	c.mu.Unlock()
}

// handle serves one decoded frame of an authenticated session; false ends the reader.
func (c *conn) handle(ctx context.Context, f protocol.Frame) bool {
	switch f := f.(type) {
	case protocol.Auth:
		c.sendError(protocol.ErrorFrame{Code: protocol.CodeUnexpectedFrame, Message: "already authenticated", Ref: "auth"})
	case protocol.Ping:
		c.enqueue(protocol.Pong(f))
		if p := c.g.o.Presence; p != nil {
			away := time.Since(time.Unix(0, c.lastAct.Load())) > protocol.AwayAfter
			if err := p.Heartbeat(ctx, c.user, c.session, away); err != nil {
				c.log.Warn("presence heartbeat", "err", err)
			}
		}
	case protocol.Sync:
		// Subscribing here rather than in the syncer orders it before every later client frame:
		// a message the client causes after its sync frame is always in the feed it gets.
		if err := c.subscribeAll(ctx); err != nil {
			c.log.Error("subscribe", "err", err)
			c.fail(protocol.CloseInternalError)
			return false
		}
		select {
		case c.syncJobs <- f:
		case <-c.done:
			return false
		}
	case protocol.Send:
		c.appendMessage(chat.Message{ConversationID: int64(f.ConversationID), ClientMsgID: f.ClientMsgID,
			Kind: chat.Text, Body: f.Body})
	case protocol.Edit:
		c.appendMessage(chat.Message{ConversationID: int64(f.ConversationID), ClientMsgID: f.ClientMsgID,
			Kind: chat.Edit, Body: f.Body, RefSeq: f.RefSeq})
	case protocol.Delete:
		c.appendMessage(chat.Message{ConversationID: int64(f.ConversationID), ClientMsgID: f.ClientMsgID,
			Kind: chat.Delete, RefSeq: f.RefSeq})
	case protocol.Typing:
		c.typing(ctx, int64(f.ConversationID))
	case protocol.Delivered:
		c.receipt(ctx, int64(f.ConversationID), f.Seq, protocol.ReceiptDelivered)
	case protocol.Read:
		c.touch()
		c.receipt(ctx, int64(f.ConversationID), f.Seq, protocol.ReceiptRead)
	case protocol.PresenceQuery:
		c.presenceQuery(ctx, f)
	}
	return true
}

// touch records user activity (for away).
func (c *conn) touch() { c.lastAct.Store(time.Now().UnixNano()) }

// appendMessage hands a send, edit or delete to the send use case (send.Service), which stores
// it with its conversation's next batch. The ack (or error) is queued before the message is fanned
// out to every session of every member — the sender's other devices (and this one) included —
// through the bus.
func (c *conn) appendMessage(m chat.Message) {
	c.touch()
	select {
	case c.sends <- struct{}{}: // released when the batch answers
	case <-c.done:
		return
	}
	m.SenderID = c.user
	err := c.g.sender.Submit(m, func(ctx context.Context, r chat.AppendResult) {
		defer func() { <-c.sends }()
		c.appended(ctx, m, r)
	})
	if rl := (*send.RateLimitedError)(nil); errors.As(err, &rl) {
		<-c.sends
		c.enqueue(protocol.ErrorFrame{Code: protocol.CodeRateLimited, Message: "too many sends", Ref: m.ClientMsgID,
			RetryAfterMS: max(rl.Wait.Milliseconds(), 1)})
	}
}

// appended answers one send with its batch's result: ack or error.
func (c *conn) appended(ctx context.Context, m chat.Message, r chat.AppendResult) {
	if r.Err != nil {
		c.appendError(ctx, m, r.Err)
		return
	}
	stored := r.Message
	c.enqueue(protocol.Ack{ClientMsgID: stored.ClientMsgID, ConversationID: protocol.ID(stored.ConversationID),
		ID: protocol.ID(stored.ID), Seq: stored.Seq, Duplicate: !r.Created})
}

// Publisher tells a user's connected sessions, on every gateway node, about a membership change
// so they start or stop that conversation (api.Publisher). Messages are published by send.Service.
type Publisher struct{ Bus fanout.Bus }

// Membership implements api.Publisher: a membership frame on the user's topic, which every
// gateway holding one of the user's sessions receives (onUserEvent).
func (p Publisher) Membership(ctx context.Context, conv, user int64, added bool) error {
	change := protocol.MembershipRemoved
	if added {
		change = protocol.MembershipAdded
	}
	b, err := protocol.Encode(protocol.Membership{ConversationID: protocol.ID(conv), UserID: protocol.ID(user), Change: change})
	if err != nil {
		return err
	}
	return p.Bus.Publish(ctx, fanout.UserTopic(user), fanout.Event{Frame: b})
}

// appendError maps a Store.Append error to the protocol's error frame.
func (c *conn) appendError(ctx context.Context, m chat.Message, err error) {
	ref := m.ClientMsgID
	switch {
	case errors.Is(err, chat.ErrNotMember):
		c.sendError(notMember(m.ConversationID, ref))
	case errors.Is(err, chat.ErrInvalid) && m.Kind != chat.Text:
		// The store says only "invalid"; tell another user's message (forbidden) from no
		// editable message at all (invalid_ref).
		code := protocol.CodeInvalidRef
		if target, terr := c.g.o.Store.Since(ctx, m.ConversationID, m.RefSeq-1, 1); terr == nil && len(target) == 1 &&
			target[0].Seq == m.RefSeq && target[0].Kind == chat.Text && target[0].SenderID != c.user {
			code = protocol.CodeForbidden
		}
		c.sendError(protocol.ErrorFrame{Code: code, Message: err.Error(), Ref: ref})
	case errors.Is(err, chat.ErrInvalid):
		c.sendError(protocol.ErrorFrame{Code: protocol.CodeInvalidFrame, Message: err.Error(), Ref: ref})
	default:
		c.log.Error("append message", "conversation", m.ConversationID, "err", err)
		c.enqueue(protocol.ErrorFrame{Code: protocol.CodeInternal, Message: "could not store the message; retry", Ref: ref})
	}
}

func notMember(conv int64, ref string) protocol.ErrorFrame {
	return protocol.ErrorFrame{Code: protocol.CodeNotMember,
		Message: fmt.Sprintf("you are not a member of conversation %d", conv), Ref: ref}
}

// typing forwards an ephemeral typing event; excess and non-members are dropped silently.
func (c *conn) typing(ctx context.Context, conv int64) {
	c.touch()
	if ok, _ := c.g.typing.Allow([2]int64{c.user, conv}); !ok {
		return
	}
	if _, err := c.g.o.Store.Member(ctx, conv, c.user); err != nil {
		return
	}
	b, err := protocol.Encode(protocol.UserTyping{ConversationID: protocol.ID(conv), UserID: protocol.ID(c.user)})
	if err != nil {
		c.log.Error("encode typing", "err", err)
		return
	}
	if err := c.g.o.Bus.Publish(ctx, fanout.ConversationTopic(conv), fanout.Event{From: c.user, Frame: b}); err != nil {
		c.log.Warn("publish typing", "conversation", conv, "err", err)
	}
}

// receipt stores a delivered/read mark and fans the increase out (coalesced).
func (c *conn) receipt(ctx context.Context, conv, seq int64, kind protocol.ReceiptKind) {
	mark, ref := c.g.o.Store.MarkDelivered, string(protocol.TypeDelivered)
	if kind == protocol.ReceiptRead {
		mark, ref = c.g.o.Store.MarkRead, string(protocol.TypeRead)
	}
	m, err := mark(ctx, conv, c.user, seq)
	switch {
	case err == nil:
	case errors.Is(err, chat.ErrNotMember), errors.Is(err, chat.ErrNotFound):
		c.sendError(notMember(conv, ref))
		return
	case errors.Is(err, chat.ErrInvalid):
		c.sendError(protocol.ErrorFrame{Code: protocol.CodeInvalidSeq, Message: err.Error(), Ref: ref})
		return
	default:
		c.log.Error("mark receipt", "conversation", conv, "err", err)
		c.enqueue(protocol.ErrorFrame{Code: protocol.CodeInternal, Message: "could not store the receipt; retry", Ref: ref})
		return
	}
	stored := m.LastDeliveredSeq
	if kind == protocol.ReceiptRead {
		stored = m.LastReadSeq
	}
	if stored == seq { // this frame set (or repeated) the maximum; a lower one changed nothing
		c.g.receipt.add(receiptKey{conv: conv, user: c.user, kind: kind}, seq)
	}
}

// sendError queues an error caused by the client and closes 1008 past MaxErrorsPerMinute.
func (c *conn) sendError(ef protocol.ErrorFrame) {
	c.enqueue(ef)
	now := time.Now()
	c.errMu.Lock()
	keep := c.errTimes[:0]
	for _, t := range c.errTimes {
		if now.Sub(t) < time.Minute {
			keep = append(keep, t)
		}
	}
	c.errTimes = append(keep, now)
	n := len(c.errTimes)
	c.errMu.Unlock()
	if n > MaxErrorsPerMinute {
		c.fail(protocol.ClosePolicyViolation)
	}
}

// enqueue encodes a control frame (ready, ack, error, pong, …) onto the send queue.
func (c *conn) enqueue(f protocol.ServerFrame) {
	b, err := protocol.Encode(f)
	if err != nil {
		c.log.Error("encode frame", "type", f.FrameType(), "err", err)
		return
	}
	if !c.q.push(outFrame{b: b, typ: f.FrameType()}) {
		c.slow()
	}
}

// writeDirect writes a frame bypassing the queue: before the writer runs, or just before closing.
func (c *conn) writeDirect(f protocol.ServerFrame) {
	b, err := protocol.Encode(f)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if c.ws.Write(ctx, websocket.MessageText, b) == nil {
		c.g.m.counter("out", f.FrameType()).Inc()
	}
}

// writer drains the send queue; a batch the client does not take within WriteTimeout makes it a
// slow consumer. The writer only stamps when a batch starts (c.writing); the gateway's watchdog
// closes a connection whose batch is older than WriteTimeout. A context deadline per write would
// cost a context.AfterFunc registration in coder/websocket, and a timer per batch a timer
// update: with one frame per delivery, both were a visible share of a fan-out.
func (c *conn) writer() {
	defer c.writing.Store(0)
	var buf []outFrame
	var merged []byte
	for {
		select {
		case <-c.done:
			return
		case <-c.q.ready:
		}
		buf = c.q.take(buf)
		c.writing.Store(time.Now().UnixNano())
		for i := 0; i < len(buf); {
			// A client that asked for it gets the frames queued meanwhile in one WebSocket
			// message, so a writer that fell behind catches up with one write(2), not n.
			msg, j := buf[i].b, i+1
			if c.batch {
				size := len(msg)
				for j < len(buf) && size+1+len(buf[j].b) <= MaxBatchedMessageBytes {
					size += 1 + len(buf[j].b)
					j++
				}
				if j > i+1 {
					merged = append(merged[:0], msg...)
					for _, f := range buf[i+1 : j] {
						merged = append(append(merged, '\n'), f.b...)
					}
					msg = merged
				}
			}
			if err := c.ws.Write(context.Background(), websocket.MessageText, msg); err != nil {
				c.fail(peerClosed) // or 4008, when the watchdog closed it
				return
			}
			for ; i < j; i++ {
				f := buf[i]
				c.g.m.counter("out", f.typ).Inc()
				switch {
				case f.created.IsZero():
				case f.stored:
					c.g.m.deliveryStore.Observe(time.Since(f.created).Seconds())
				default:
					c.g.m.deliveryLive.Observe(time.Since(f.created).Seconds())
				}
				buf[i] = outFrame{}
			}
		}
		c.writing.Store(0)
	}
}

// stalled reports whether the batch being written started more than WriteTimeout before now.
func (c *conn) stalled(now int64) bool {
	w := c.writing.Load()
	return w != 0 && now-w > int64(c.g.o.WriteTimeout)
}

// pinger sends WebSocket ping control frames to find dead TCP peers that never time out a read
// on their own; a peer that does not answer within a heartbeat is closed with 4003.
func (c *conn) pinger() {
	t := time.NewTicker(c.g.o.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), c.g.o.Heartbeat)
		err := c.ws.Ping(ctx)
		cancel()
		if err != nil {
			c.fail(protocol.CloseHeartbeatTimeout)
			return
		}
	}
}

// onUserEvent queues a user-addressed frame (presence, membership change). A removal from a
// conversation first ends this session's live feed of it, so nothing sent there after the removal
// reaches a former member; the client drops the conversation when the frame arrives.
func (c *conn) onUserEvent(e fanout.Event) {
	typ := frameType(e.Frame)
	if typ == protocol.TypeMembership {
		f, err := protocol.DecodeServer(e.Frame)
		if m, ok := f.(protocol.Membership); err == nil && ok && m.Change == protocol.MembershipRemoved && int64(m.UserID) == c.user {
			c.unsubscribe(int64(m.ConversationID))
		}
	}
	if !c.q.push(outFrame{b: e.Frame, typ: typ}) {
		c.slow()
	}
}

// frameType reads the type of an encoded server frame, which every encoder writes first.
func frameType(b []byte) protocol.FrameType {
	rest, ok := bytes.CutPrefix(b, []byte(`{"type":"`))
	if !ok {
		return "unknown"
	}
	if i := bytes.IndexByte(rest, '"'); i > 0 && i <= 16 {
		return protocol.FrameType(rest[:i])
	}
	return "unknown"
}

// createdAt reads created_at from a frame made by protocol.AppendMessage, which ends with
// "created_at":"2006-01-02T15:04:05.000Z"} — cheaper than decoding the frame per recipient.
func createdAt(b []byte) time.Time {
	const n = len(`2006-01-02T15:04:05.000Z"}`)
	if len(b) < n {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, string(b[len(b)-n:len(b)-2]))
	if err != nil {
		return time.Time{}
	}
	return t
}

func toProtocol(m chat.Message) protocol.Message {
	return protocol.Message{ID: protocol.ID(m.ID), ConversationID: protocol.ID(m.ConversationID), Seq: m.Seq,
		SenderID: protocol.ID(m.SenderID), ClientMsgID: m.ClientMsgID, Kind: protocol.MessageKind(m.Kind),
		Body: m.Body, RefSeq: m.RefSeq, CreatedAt: m.CreatedAt}
}
