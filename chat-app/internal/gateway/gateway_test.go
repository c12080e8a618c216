package gateway

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/chat"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/limit"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/protocol"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/send"
)

func syncAll(c *client, after map[int64]int64) {
	c.t.Helper()
	s := protocol.Sync{}
	for conv, seq := range after {
		s.Conversations = append(s.Conversations, protocol.SyncCursor{ConversationID: protocol.ID(conv), AfterSeq: seq})
	}
	c.send(s)
	for range after {
		expectFrame[protocol.SyncDone](c)
	}
}

func TestDirectAndGroupDeliverEveryMessageOnceInOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{nodes: 2})
	ctx := context.Background()
	u := e.users(t, "alice", "bob", "carol")
	alice, bob, carol := u[0], u[1], u[2]
	direct, err := e.store.Direct(ctx, alice, bob)
	require.NoError(t, err)
	group, err := e.store.CreateGroup(ctx, alice, "trio", []int64{bob, carol})
	require.NoError(t, err)

	// Alice has two devices on different nodes; the second must get her own messages too.
	a1, a2 := connect(t, e.urls[0], alice), connect(t, e.urls[1], alice)
	b1, c1 := connect(t, e.urls[1], bob), connect(t, e.urls[0], carol)
	for _, c := range []*client{a1, a2, b1} {
		syncAll(c, map[int64]int64{direct.ID: 0, group.ID: 0})
	}
	syncAll(c1, map[int64]int64{group.ID: 0})

	const n = 10
	for i := range n {
		assert.Equal(t, int64(2*i+1), a1.sendText(direct.ID, fmt.Sprintf("a-d-%d", i), "hi bob").Seq)
		assert.Equal(t, int64(2*i+2), b1.sendText(direct.ID, fmt.Sprintf("b-d-%d", i), "hi alice").Seq)
		a1.sendText(group.ID, fmt.Sprintf("a-g-%d", i), "hi all")
		b1.sendText(group.ID, fmt.Sprintf("b-g-%d", i), "hi all")
		c1.sendText(group.ID, fmt.Sprintf("c-g-%d", i), "hi all")
	}
	both := map[int64]int64{direct.ID: 2 * n, group.ID: 3 * n}
	for name, c := range map[string]*client{"alice-1": a1, "alice-2": a2, "bob": b1} {
		got := c.messages(both) // fails on a duplicate or a reordering
		assert.Len(t, got[direct.ID], 2*n, name)
		assert.Len(t, got[group.ID], 3*n, name)
	}
	got := c1.messages(map[int64]int64{group.ID: 3 * n})
	assert.Equal(t, "a-g-0", got[group.ID][0].ClientMsgID)

	// Nothing more than that: a barrier message is the very next message frame everywhere.
	a1.sendText(group.ID, "barrier", "end")
	for _, c := range []*client{a1, a2, b1, c1} {
		m := expectMessage(c)
		assert.Equal(t, "barrier", m.ClientMsgID)
		assert.Equal(t, int64(3*n+1), m.Seq)
	}
}

// expectMessage returns the next message frame, skipping acks and ephemeral frames.
func expectMessage(c *client) protocol.Message {
	c.t.Helper()
	for _, f := range c.popPushed() {
		if m, ok := f.(protocol.Message); ok {
			return m
		}
	}
	for {
		switch f := c.next().(type) {
		case protocol.Message:
			return f
		case protocol.Ack, protocol.Presence, protocol.UserTyping, protocol.Receipt:
		default:
			c.t.Fatalf("unexpected frame %#v", f)
		}
	}
}

func TestIdempotentResendIsAckedAsDuplicateAndDeliveredOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	u := e.users(t, "alice", "bob")
	conv, err := e.store.Direct(context.Background(), u[0], u[1])
	require.NoError(t, err)
	a, b := connect(t, e.urls[0], u[0]), connect(t, e.urls[0], u[1])
	syncAll(b, map[int64]int64{conv.ID: 0})

	first := a.sendText(conv.ID, "c-1", "hello")
	assert.False(t, first.Duplicate)
	again := a.sendText(conv.ID, "c-1", "hello (retry, body ignored)")
	assert.True(t, again.Duplicate)
	assert.Equal(t, first.ID, again.ID)
	assert.Equal(t, first.Seq, again.Seq)
	a.sendText(conv.ID, "c-2", "second")

	m1, m2 := expectMessage(b), expectMessage(b)
	assert.Equal(t, []int64{1, 2}, []int64{m1.Seq, m2.Seq})
	assert.Equal(t, "hello", m1.Body)
}

func TestReconnectWithGapGetsExactlyTheGapThenSyncDoneThenLive(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{nodes: 2})
	u := e.users(t, "alice", "bob")
	conv, err := e.store.Direct(context.Background(), u[0], u[1])
	require.NoError(t, err)
	a := connect(t, e.urls[0], u[0])
	b := connect(t, e.urls[1], u[1])
	syncAll(b, map[int64]int64{conv.ID: 0})
	for i := range 3 {
		a.sendText(conv.ID, fmt.Sprintf("m-%d", i), "before")
	}
	require.Len(t, b.messages(map[int64]int64{conv.ID: 3})[conv.ID], 3)
	require.NoError(t, b.ws.Close(websocket.StatusNormalClosure, "bye"))

	for i := 3; i < 8; i++ { // seq 4..8 while bob is away
		a.sendText(conv.ID, fmt.Sprintf("m-%d", i), "while away")
	}
	b = connect(t, e.urls[0], u[1]) // the other node
	b.send(protocol.Sync{Conversations: []protocol.SyncCursor{{ConversationID: protocol.ID(conv.ID), AfterSeq: 3}}})
	for seq := int64(4); seq <= 8; seq++ {
		m := expectFrame[protocol.Message](b)
		require.Equal(t, seq, m.Seq)
	}
	done := expectFrame[protocol.SyncDone](b)
	assert.Equal(t, protocol.SyncDone{ConversationID: protocol.ID(conv.ID), LastSeq: 8}, done)
	a.sendText(conv.ID, "m-live", "live")
	m := expectFrame[protocol.Message](b)
	assert.Equal(t, int64(9), m.Seq)
	assert.Equal(t, "m-live", m.ClientMsgID)

	// An empty gap: sync_done with last_seq = after_seq, then live.
	c := connect(t, e.urls[1], u[1])
	c.send(protocol.Sync{Conversations: []protocol.SyncCursor{{ConversationID: protocol.ID(conv.ID), AfterSeq: 9}}})
	assert.Equal(t, int64(9), expectFrame[protocol.SyncDone](c).LastSeq)
	a.sendText(conv.ID, "m-10", "x")
	assert.Equal(t, int64(10), expectFrame[protocol.Message](c).Seq)
}

func TestNoMessageBeforeFirstSyncAndUnlistedConversationsGoLive(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	u := e.users(t, "alice", "bob")
	conv, err := e.store.Direct(context.Background(), u[0], u[1])
	require.NoError(t, err)
	a, b := connect(t, e.urls[0], u[0]), connect(t, e.urls[0], u[1])
	// Bob's other device is synced, so once it holds "early" the node has fanned it out:
	// the ack alone does not say so (the publish follows the ack).
	w := connect(t, e.urls[0], u[1])
	syncAll(w, map[int64]int64{conv.ID: 0})
	a.sendText(conv.ID, "early", "before bob syncs")
	assert.Equal(t, "early", expectFrame[protocol.Message](w).ClientMsgID)
	b.send(protocol.Ping{Nonce: "1"})
	assert.Equal(t, "1", expectFrame[protocol.Pong](b).Nonce) // no message frame before it

	b.send(protocol.Sync{Conversations: []protocol.SyncCursor{}}) // lists nothing: live from now
	b.send(protocol.Ping{Nonce: "2"})
	expectFrame[protocol.Pong](b)
	a.sendText(conv.ID, "late", "after")
	assert.Equal(t, "late", expectFrame[protocol.Message](b).ClientMsgID)
}

func TestSlowConsumerIsClosedWith4008WhileOthersKeepReceiving(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{smallBuf: true, tune: func(o *Options) { o.SendQueue = 8 }})
	u := e.users(t, "alice", "bob", "carol")
	group, err := e.store.CreateGroup(context.Background(), u[0], "g", u[1:])
	require.NoError(t, err)
	a := connect(t, e.urls[0], u[0])
	c := connect(t, e.urls[0], u[2])
	syncAll(c, map[int64]int64{group.ID: 0})

	// Bob syncs, then stops reading: no reader goroutine, a tiny receive buffer.
	bws := dialRaw(t, e.urls[0], nil, true)
	writeFrame(t, bws, protocol.Auth{Token: token(u[1])})
	writeFrame(t, bws, protocol.Sync{Conversations: []protocol.SyncCursor{{ConversationID: protocol.ID(group.ID)}}})

	body := strings.Repeat("x", 4000)
	sent := 0
	deadline := time.Now().Add(waitFor)
	for testutil.ToFloat64(e.gws[0].m.slowConsumer) < 1 {
		require.True(t, time.Now().Before(deadline), "bob was never closed as a slow consumer")
		a.sendText(group.ID, fmt.Sprintf("m-%d", sent), body)
		sent++
		// Carol reads as she goes, so she is never slow.
		require.Equal(t, int64(sent), expectMessage(c).Seq)
	}
	// Bob reads now: what was queued, then the close frame.
	b := startReader(t, bws)
	assert.Equal(t, websocket.StatusCode(protocol.CloseSlowConsumer), b.closeStatus())

	// Carol is unaffected and keeps receiving.
	a.sendText(group.ID, "after", "still here")
	assert.Equal(t, "after", expectMessage(c).ClientMsgID)
	t.Logf("slow consumer closed after %d messages of 4 KB", sent)
}

// A client whose socket takes nothing for WriteTimeout is closed by the watchdog (4008), even with
// room left in its send queue.
func TestStalledWriterIsClosedWith4008(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{smallBuf: true, tune: func(o *Options) {
		o.SendQueue = 100_000 // the queue never fills: only the stalled write can close bob
		o.WriteTimeout = 300 * time.Millisecond
	}})
	u := e.users(t, "alice", "bob")
	conv, err := e.store.Direct(context.Background(), u[0], u[1])
	require.NoError(t, err)
	a := connect(t, e.urls[0], u[0])
	bws := dialRaw(t, e.urls[0], nil, true) // bob never reads
	writeFrame(t, bws, protocol.Auth{Token: token(u[1])})
	writeFrame(t, bws, protocol.Sync{Conversations: []protocol.SyncCursor{{ConversationID: protocol.ID(conv.ID)}}})

	body := strings.Repeat("x", 4000)
	deadline := time.Now().Add(waitFor)
	for i := 0; testutil.ToFloat64(e.gws[0].m.slowConsumer) < 1; i++ {
		require.True(t, time.Now().Before(deadline), "bob was never closed")
		if i < 200 { // enough to fill both socket buffers
			a.send(protocol.Send{ConversationID: protocol.ID(conv.ID), ClientMsgID: fmt.Sprintf("m-%d", i), Body: body})
		}
		time.Sleep(10 * time.Millisecond)
	}
	assert.Equal(t, 1.0, testutil.ToFloat64(e.gws[0].m.slowConsumer))
}

func writeFrame(t *testing.T, ws *websocket.Conn, f protocol.Frame) {
	t.Helper()
	b, err := protocol.EncodeClient(f)
	require.NoError(t, err)
	require.NoError(t, ws.Write(context.Background(), websocket.MessageText, b))
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	u := e.users(t, "alice")
	tests := []struct {
		name  string
		first func(c *client)
		code  protocol.ErrorCode // "" when no error frame comes
		close protocol.CloseCode
	}{
		{"no frame within the auth deadline", func(*client) {}, "", protocol.CloseAuthTimeout},
		{"bad token", func(c *client) { c.send(protocol.Auth{Token: "forged"}) }, protocol.CodeAuthFailed, protocol.CloseAuthFailed},
		{"expired token", func(c *client) { c.send(protocol.Auth{Token: "expired:1"}) }, protocol.CodeTokenExpired, protocol.CloseAuthFailed},
		{"other first frame", func(c *client) { c.send(protocol.Ping{}) }, protocol.CodeAuthRequired, protocol.CloseAuthFailed},
		{"malformed first frame", func(c *client) { c.sendRaw([]byte(`{"type":"auth"`)) }, protocol.CodeInvalidFrame, protocol.CloseAuthFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := startReader(t, dialRaw(t, e.urls[0], nil, false))
			tt.first(c)
			if tt.code != "" {
				ef := c.expectError(tt.code)
				if tt.code != protocol.CodeInvalidFrame {
					assert.NotEmpty(t, ef.Ref)
				}
			}
			assert.Equal(t, websocket.StatusCode(tt.close), c.closeStatus())
		})
	}
	t.Run("bearer header", func(t *testing.T) {
		t.Parallel()
		c := startReader(t, dialRaw(t, e.urls[0], http.Header{"Authorization": {"Bearer " + token(u[0])}}, false))
		r := expectFrame[protocol.Ready](c)
		assert.Equal(t, protocol.ID(u[0]), r.UserID)
		assert.Equal(t, int64(protocol.DefaultHeartbeat/time.Millisecond), r.HeartbeatMS)
		assert.Equal(t, protocol.DefaultMaxFrameBytes, r.MaxFrameBytes)
		assert.Equal(t, protocol.DefaultMaxBodyBytes, r.MaxBodyBytes)
		assert.True(t, strings.HasPrefix(r.SessionID, "s-"))
		c.send(protocol.Auth{Token: token(u[0])})
		c.expectError(protocol.CodeUnexpectedFrame) // a second auth; the connection stays
		c.send(protocol.Ping{Nonce: "n"})
		assert.Equal(t, "n", expectFrame[protocol.Pong](c).Nonce)
	})
	t.Run("bad origin", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		_, resp, err := websocket.Dial(ctx, e.urls[0], &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {"https://evil.example"}}})
		require.Error(t, err)
		require.NotNil(t, resp)
		assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	})
}

func TestBadInputGetsTheRightErrorAndTheConnectionStays(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	ctx := context.Background()
	u := e.users(t, "alice", "bob", "carol")
	conv, err := e.store.Direct(ctx, u[0], u[1])
	require.NoError(t, err)
	other, err := e.store.Direct(ctx, u[1], u[2]) // alice is not in it
	require.NoError(t, err)
	a, b := connect(t, e.urls[0], u[0]), connect(t, e.urls[0], u[1])
	bobs := b.sendText(conv.ID, "b-1", "bob's")
	mine := a.sendText(conv.ID, "a-1", "mine")
	id := protocol.ID(conv.ID)

	tests := []struct {
		name string
		raw  string
		f    protocol.Frame
		code protocol.ErrorCode
		ref  string
	}{
		{name: "malformed JSON", raw: `{"type":`, code: protocol.CodeInvalidFrame},
		{name: "unknown type", raw: `{"type":"shout"}`, code: protocol.CodeUnknownType, ref: "shout"},
		{name: "id as number", raw: `{"type":"typing","conversation_id":5}`, code: protocol.CodeInvalidFrame, ref: "typing"},
		{name: "frame too large", raw: `{"type":"ping","nonce":"` + strings.Repeat("x", 9000) + `"}`, code: protocol.CodeFrameTooLarge},
		{name: "body too large", f: protocol.Send{ConversationID: id, ClientMsgID: "big", Body: strings.Repeat("é", 2100)},
			code: protocol.CodeMessageTooLarge, ref: "big"},
		{name: "send to a stranger's conversation", f: protocol.Send{ConversationID: protocol.ID(other.ID), ClientMsgID: "x-1", Body: "hi"},
			code: protocol.CodeNotMember, ref: "x-1"},
		{name: "send to no conversation", f: protocol.Send{ConversationID: 12345, ClientMsgID: "x-2", Body: "hi"},
			code: protocol.CodeNotMember, ref: "x-2"},
		{name: "sync a stranger's conversation", f: protocol.Sync{Conversations: []protocol.SyncCursor{{ConversationID: protocol.ID(other.ID)}}},
			code: protocol.CodeNotMember, ref: "sync"},
		{name: "edit another user's message", f: protocol.Edit{ConversationID: id, ClientMsgID: "e-1", RefSeq: bobs.Seq, Body: "x"},
			code: protocol.CodeForbidden, ref: "e-1"},
		{name: "edit a missing message", f: protocol.Edit{ConversationID: id, ClientMsgID: "e-2", RefSeq: 99, Body: "x"},
			code: protocol.CodeInvalidRef, ref: "e-2"},
		{name: "receipt above the head", f: protocol.Read{ConversationID: id, Seq: 99}, code: protocol.CodeInvalidSeq, ref: "read"},
		{name: "receipt in a stranger's conversation", f: protocol.Delivered{ConversationID: protocol.ID(other.ID), Seq: 1},
			code: protocol.CodeNotMember, ref: "delivered"},
	}
	for _, tt := range tests {
		if tt.f != nil {
			a.send(tt.f)
		} else {
			a.sendRaw([]byte(tt.raw))
		}
		ef := a.expectError(tt.code)
		assert.Equal(t, tt.ref, ef.Ref, tt.name)
	}
	// Still up: a valid edit of her own message works.
	a.send(protocol.Edit{ConversationID: id, ClientMsgID: "e-3", RefSeq: mine.Seq, Body: "edited"})
	assert.False(t, expectFrame[protocol.Ack](a).Duplicate)

	t.Run("more than 20 errors a minute close 1008", func(t *testing.T) {
		c := connect(t, e.urls[0], u[2])
		for range MaxErrorsPerMinute + 1 {
			c.sendRaw([]byte(`{}`))
		}
		assert.Equal(t, websocket.StatusCode(protocol.ClosePolicyViolation), c.closeStatus())
	})
	t.Run("binary frame closes 1008", func(t *testing.T) {
		c := connect(t, e.urls[0], u[2])
		require.NoError(t, c.ws.Write(ctx, websocket.MessageBinary, []byte(`{"type":"ping"}`)))
		assert.Equal(t, websocket.StatusCode(protocol.ClosePolicyViolation), c.closeStatus())
	})
	t.Run("frame over the transport limit closes 1009", func(t *testing.T) {
		c := connect(t, e.urls[0], u[2])
		_ = c.ws.Write(ctx, websocket.MessageText, []byte(`{"type":"ping","nonce":"`+strings.Repeat("x", 70<<10)+`"}`))
		assert.Equal(t, websocket.StatusMessageTooBig, c.closeStatus())
	})
}

func TestRateLimitPerUserAcrossConnections(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{send: func(o *send.Options) { o.Limit = limit.New[int64](0.5, 3, nil) }})
	u := e.users(t, "alice", "bob")
	conv, err := e.store.Direct(context.Background(), u[0], u[1])
	require.NoError(t, err)
	a1, a2 := connect(t, e.urls[0], u[0]), connect(t, e.urls[0], u[0])
	a1.sendText(conv.ID, "1", "x")
	a2.sendText(conv.ID, "2", "x")
	a1.sendText(conv.ID, "3", "x")
	a2.send(protocol.Send{ConversationID: protocol.ID(conv.ID), ClientMsgID: "4", Body: "x"})
	ef := a2.expectError(protocol.CodeRateLimited)
	assert.Equal(t, "4", ef.Ref)
	assert.Positive(t, ef.RetryAfterMS)
	assert.LessOrEqual(t, ef.RetryAfterMS, int64(2000))
}

func TestTypingAndReceiptsReachTheOtherMembersOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{nodes: 2})
	u := e.users(t, "alice", "bob")
	conv, err := e.store.Direct(context.Background(), u[0], u[1])
	require.NoError(t, err)
	a1, a2 := connect(t, e.urls[0], u[0]), connect(t, e.urls[1], u[0])
	b := connect(t, e.urls[1], u[1])
	for _, c := range []*client{a1, a2, b} {
		syncAll(c, map[int64]int64{conv.ID: 0})
	}
	id := protocol.ID(conv.ID)
	a1.send(protocol.Typing{ConversationID: id})
	a1.send(protocol.Typing{ConversationID: id}) // within 3 s: dropped
	assert.Equal(t, protocol.UserTyping{ConversationID: id, UserID: protocol.ID(u[0])}, expectFrame[protocol.UserTyping](b))

	a1.sendText(conv.ID, "m1", "hello")
	assert.Equal(t, int64(1), expectMessage(b).Seq) // no second typing frame before it
	// Alice's second device gets no typing of her own: her next frames are the message, then
	// bob's receipt (fanned out from the other node).
	m1, ok := a2.next().(protocol.Message)
	require.True(t, ok)
	assert.Equal(t, int64(1), m1.Seq)
	b.send(protocol.Read{ConversationID: id, Seq: 1})
	want := protocol.Receipt{ConversationID: id, UserID: protocol.ID(u[1]), Kind: protocol.ReceiptRead, Seq: 1}
	assert.Equal(t, want, a2.next())
	m, err := e.store.Member(context.Background(), conv.ID, u[1])
	require.NoError(t, err)
	assert.Equal(t, int64(1), m.LastReadSeq)
}

func TestHeartbeatTimeoutCloses4003(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{tune: func(o *Options) { o.Heartbeat = 300 * time.Millisecond }})
	u := e.users(t, "alice")
	c := connect(t, e.urls[0], u[0])
	assert.Equal(t, int64(300), c.ready.HeartbeatMS)
	assert.Equal(t, websocket.StatusCode(protocol.CloseHeartbeatTimeout), c.closeStatus())
}

func TestShutdownClosesEveryConnectionWith1001(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	u := e.users(t, "alice", "bob")
	a, b := connect(t, e.urls[0], u[0]), connect(t, e.urls[0], u[1])
	assert.Equal(t, 2.0, testutil.ToFloat64(e.gws[0].m.connections))
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	require.NoError(t, e.gws[0].Shutdown(ctx))
	assert.Equal(t, websocket.StatusGoingAway, a.closeStatus())
	assert.Equal(t, websocket.StatusGoingAway, b.closeStatus())
	assert.Equal(t, 0.0, testutil.ToFloat64(e.gws[0].m.connections))
}

// A user added to a group mid-session hears of it at once and syncs it; a user removed stops
// receiving its messages at once, on every node, before anything else is sent there.
func TestMembershipChangesReachConnectedSessions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{nodes: 2})
	ctx := context.Background()
	u := e.users(t, "alice", "bob", "carol")
	alice, bob, carol := u[0], u[1], u[2]
	g, err := e.store.CreateGroup(ctx, alice, "g", []int64{bob})
	require.NoError(t, err)
	a := connect(t, e.urls[0], alice)
	b := connect(t, e.urls[1], bob)
	c := connect(t, e.urls[1], carol)
	syncAll(a, map[int64]int64{g.ID: 0})
	syncAll(b, map[int64]int64{g.ID: 0})
	pub := Publisher{Bus: e.bus}

	// carol is added (as the API does it: store, then announce) and syncs the new conversation.
	a.sendText(g.ID, "before-carol", "1")
	require.NoError(t, e.store.AddMember(ctx, alice, g.ID, carol, chat.RoleMember))
	require.NoError(t, pub.Membership(ctx, g.ID, carol, true))
	added := expectFrame[protocol.Membership](c)
	assert.Equal(t, protocol.Membership{ConversationID: protocol.ID(g.ID), UserID: protocol.ID(carol), Change: protocol.MembershipAdded}, added)
	c.send(protocol.Sync{Conversations: []protocol.SyncCursor{{ConversationID: protocol.ID(g.ID)}}})
	a.sendText(g.ID, "with-carol", "2")
	got := c.messages(map[int64]int64{g.ID: 2})
	assert.Equal(t, "with-carol", got[g.ID][1].ClientMsgID)

	// bob is removed: his session drops the conversation before alice's next message.
	require.NoError(t, e.store.RemoveMember(ctx, alice, g.ID, bob))
	require.NoError(t, pub.Membership(ctx, g.ID, bob, false))
	for _, want := range []string{"before-carol", "with-carol"} {
		assert.Equal(t, want, expectMessage(b).ClientMsgID)
	}
	removed := expectFrame[protocol.Membership](b)
	assert.Equal(t, protocol.MembershipRemoved, removed.Change)
	a.sendText(g.ID, "after-bob", "3")
	for { // carol's sync_done may come first
		if m, ok := c.next().(protocol.Message); ok {
			assert.Equal(t, "after-bob", m.ClientMsgID)
			break
		}
	}
	// A barrier in another conversation: bob's next message frame is that one, not "after-bob".
	d, err := e.store.Direct(ctx, alice, bob)
	require.NoError(t, err)
	syncAll(b, map[int64]int64{d.ID: 0})
	a.sendText(d.ID, "barrier", "4")
	assert.Equal(t, "barrier", expectMessage(b).ClientMsgID, "nothing of the group after the removal")
	// And a sync cursor for it is refused.
	b.send(protocol.Sync{Conversations: []protocol.SyncCursor{{ConversationID: protocol.ID(g.ID)}}})
	b.expectError(protocol.CodeNotMember)
}

// A message stored after a removal never reaches the removed user's open sessions, even when
// the "membership removed" announcement is late or lost (here: never published), on every node;
// the members who stay receive it, and their first message after a removal costs one check.
func TestMessagesStoredAfterARemovalDoNotReachTheRemovedUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{nodes: 2})
	ctx := context.Background()
	u := e.users(t, "alice", "bob", "carol")
	alice, bob, carol := u[0], u[1], u[2]
	g, err := e.store.CreateGroup(ctx, alice, "g", []int64{bob, carol})
	require.NoError(t, err)
	d, err := e.store.Direct(ctx, alice, bob)
	require.NoError(t, err)
	a := connect(t, e.urls[0], alice)
	b0, b1 := connect(t, e.urls[0], bob), connect(t, e.urls[1], bob) // bob on both nodes
	c := connect(t, e.urls[1], carol)
	for _, s := range []*client{b0, b1} {
		syncAll(s, map[int64]int64{g.ID: 0, d.ID: 0})
	}
	syncAll(c, map[int64]int64{g.ID: 0})
	a.sendText(g.ID, "before", "1")
	for _, s := range []*client{b0, b1, c} {
		assert.Equal(t, "before", expectMessage(s).ClientMsgID)
	}

	require.NoError(t, e.store.RemoveMember(ctx, alice, g.ID, bob)) // and no announcement
	a.sendText(g.ID, "after", "2")
	assert.Equal(t, "after", expectMessage(c).ClientMsgID, "carol stays a member")
	a.sendText(d.ID, "barrier", "3") // bob's next message frame on each node is this one
	for _, s := range []*client{b0, b1} {
		assert.Equal(t, "barrier", expectMessage(s).ClientMsgID, "nothing of the group after the removal")
	}
	a.sendText(g.ID, "later", "4")
	assert.Equal(t, "later", expectMessage(c).ClientMsgID)
	a.sendText(d.ID, "barrier-2", "5")
	for _, s := range []*client{b0, b1} {
		assert.Equal(t, "barrier-2", expectMessage(s).ClientMsgID, "the session dropped the group")
	}
}

// sinceHookStore runs before once, at the first Since of conversation conv.
type sinceHookStore struct {
	chat.Store
	conv   int64
	before sync.Once
	hook   func()
}

func (s *sinceHookStore) Since(ctx context.Context, conv, after int64, limit int) ([]chat.Message, error) {
	if conv == s.conv {
		s.before.Do(s.hook)
	}
	return s.Store.Since(ctx, conv, after, limit)
}

// A removal that lands between a sync cursor's membership check and its read of the log: what
// was stored after it is not streamed; the cursor is refused instead.
func TestRemovalDuringASyncIsNotStreamed(t *testing.T) {
	t.Parallel()
	hooked := &sinceHookStore{}
	e := newEnv(t, envOpts{tune: func(o *Options) { hooked.Store = o.Store; o.Store = hooked }})
	ctx := context.Background()
	u := e.users(t, "alice", "bob")
	alice, bob := u[0], u[1]
	g, err := e.store.CreateGroup(ctx, alice, "g", []int64{bob})
	require.NoError(t, err)
	_, _, err = e.store.Append(ctx, chat.Message{ConversationID: g.ID, SenderID: alice, ClientMsgID: "before", Kind: chat.Text, Body: "x"})
	require.NoError(t, err)
	hooked.conv, hooked.hook = g.ID, func() {
		require.NoError(t, e.store.RemoveMember(ctx, alice, g.ID, bob))
		_, _, err := e.store.Append(ctx, chat.Message{ConversationID: g.ID, SenderID: alice, ClientMsgID: "secret", Kind: chat.Text, Body: "x"})
		require.NoError(t, err)
	}
	b := connect(t, e.urls[0], bob)
	b.send(protocol.Sync{Conversations: []protocol.SyncCursor{{ConversationID: protocol.ID(g.ID)}}})
	for {
		switch f := b.next().(type) {
		case protocol.Message:
			t.Fatalf("streamed %q after the removal", f.ClientMsgID)
		case protocol.SyncDone:
			t.Fatalf("sync_done for a conversation bob was removed from: %+v", f)
		case protocol.ErrorFrame:
			assert.Equal(t, protocol.CodeNotMember, f.Code)
			return
		}
	}
}

// A client that asks for batching (?batch=1) gets what queued meanwhile in fewer WebSocket
// messages, every frame still once and in order; one that did not ask gets one frame per message.
func TestBatchedClientGetsEveryFrameInFewerMessages(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	u := e.users(t, "alice", "bob", "carol")
	g, err := e.store.CreateGroup(context.Background(), u[0], "g", u[1:])
	require.NoError(t, err)
	a := connect(t, e.urls[0], u[0])
	batched := connect(t, e.urls[0]+"?batch=1", u[1])
	plain := connect(t, e.urls[0], u[2])
	syncAll(batched, map[int64]int64{g.ID: 0})
	syncAll(plain, map[int64]int64{g.ID: 0})

	// Sends written back to back are stored as few batches and published in bursts.
	const n = 300
	for i := range n {
		a.send(protocol.Send{ConversationID: protocol.ID(g.ID), ClientMsgID: fmt.Sprintf("m%d", i), Body: "x"})
	}
	for _, c := range []*client{batched, plain} {
		got := c.messages(map[int64]int64{g.ID: n}) // once each, in seq order
		require.Len(t, got[g.ID], n)
	}
	assert.Positive(t, batched.merged.Load(), "some messages carried several frames")
	assert.Zero(t, plain.merged.Load(), "one frame per message without ?batch=1")
}
