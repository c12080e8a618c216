package main

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/api"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/apitest"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/protocol"
	"github.com/hyperscaledesignhub/DesignSystems/shared/boot"
	"github.com/hyperscaledesignhub/DesignSystems/shared/config"
)

func TestConfigValidation(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		want string // "" = valid
	}{
		{map[string]string{}, ""},
		{map[string]string{"DATABASE_URL": "postgres://x/y"}, ""}, // a random secret, with a warning
		{map[string]string{"JWT_SECRET": "short"}, "at least 32"},
		{map[string]string{"NODE_ID": "1024"}, "NODE_ID"},
		{map[string]string{"TOKEN_TTL": "10s"}, "TOKEN_TTL"},
		{map[string]string{"SEND_RATE": "0"}, "SEND_RATE"},
	} {
		cfg, err := config.LoadFrom[Config](c.env)
		if c.want == "" {
			require.NoError(t, err, "%v", c.env)
			assert.Equal(t, ":8600", cfg.HTTPAddr)
		} else {
			assert.ErrorContains(t, err, c.want, "%v", c.env)
		}
	}
}

// session is one authenticated, synced WebSocket.
type session struct {
	t    *testing.T
	ws   *websocket.Conn
	held []protocol.ServerFrame
}

func dial(t *testing.T, ctx context.Context, addr, token string, conv protocol.ID) *session {
	t.Helper()
	ws, _, err := websocket.Dial(ctx, "ws://"+addr+"/ws", &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
	require.NoError(t, err)
	s := &session{t: t, ws: ws}
	_, ok := s.next(ctx, protocol.TypeReady).(protocol.Ready)
	require.True(t, ok)
	s.write(ctx, protocol.Sync{Conversations: []protocol.SyncCursor{{ConversationID: conv}}})
	done := s.next(ctx, protocol.TypeSyncDone).(protocol.SyncDone)
	require.Equal(t, conv, done.ConversationID)
	return s
}

func (s *session) write(ctx context.Context, f protocol.Frame) {
	b, err := protocol.EncodeClient(f)
	require.NoError(s.t, err)
	require.NoError(s.t, s.ws.Write(ctx, websocket.MessageText, b))
}

// next skips presence, receipts and typing until a frame of type want arrives; a frame of
// another type is kept for a later call.
func (s *session) next(ctx context.Context, want protocol.FrameType) protocol.ServerFrame {
	s.t.Helper()
	for i, f := range s.held {
		if f.FrameType() == want {
			s.held = append(s.held[:i], s.held[i+1:]...)
			return f
		}
	}
	for {
		_, b, err := s.ws.Read(ctx)
		require.NoError(s.t, err, "waiting for %s", want)
		f, err := protocol.DecodeServer(b)
		require.NoError(s.t, err)
		switch f.FrameType() {
		case want:
			return f
		case protocol.TypePresence, protocol.TypeReceipt, protocol.TypeTyping:
		default:
			s.held = append(s.held, f)
		}
	}
}

// TestRunOneProcess boots the embedded default and checks that the API and the gateway share
// one store and one bus: sign up over HTTP, chat over WebSockets, an HTTP send arrives live, and
// shutdown closes the sockets with 1001.
func TestRunOneProcess(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	t.Setenv("HTTP_ADDR", addr)
	t.Setenv("OTEL_SDK_DISABLED", "true")
	t.Setenv("LOG_LEVEL", "warn")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- boot.Run(ctx, "chat", "test", run) }()
	base := "http://" + addr
	require.Eventually(t, func() bool {
		res, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	}, 20*time.Second, 20*time.Millisecond)

	// The web client is served at / beside the API.
	page, err := http.Get(base + "/")
	require.NoError(t, err)
	page.Body.Close()
	assert.Equal(t, http.StatusOK, page.StatusCode)
	assert.Contains(t, page.Header.Get("Content-Type"), "text/html")

	var alice, bob api.AuthResponse
	apitest.Call(t, http.MethodPost, base+"/v1/signup", "", api.SignupRequest{Username: "alice", DisplayName: "Alice", Password: "correct horse"}, &alice, http.StatusCreated)
	apitest.Call(t, http.MethodPost, base+"/v1/signup", "", api.SignupRequest{Username: "bob", DisplayName: "Bob", Password: "battery staple"}, &bob, http.StatusCreated)
	var conv api.Conversation
	apitest.Call(t, http.MethodPost, base+"/v1/conversations/direct", alice.Token, api.DirectRequest{UserID: bob.User.ID}, &conv, http.StatusOK)

	tctx, tcancel := context.WithTimeout(ctx, 10*time.Second)
	defer tcancel()
	a := dial(t, tctx, addr, alice.Token, conv.ID)
	b := dial(t, tctx, addr, bob.Token, conv.ID)

	a.write(tctx, protocol.Send{ConversationID: conv.ID, ClientMsgID: "a-1", Body: "hi bob"})
	ack := a.next(tctx, protocol.TypeAck).(protocol.Ack)
	assert.Equal(t, int64(1), ack.Seq)
	assert.False(t, ack.Duplicate)
	got := b.next(tctx, protocol.TypeMessage).(protocol.Message)
	assert.Equal(t, "hi bob", got.Body)
	assert.Equal(t, int64(1), got.Seq)
	assert.Equal(t, alice.User.ID, got.SenderID)
	own := a.next(tctx, protocol.TypeMessage).(protocol.Message)
	assert.Equal(t, int64(1), own.Seq, "the sender's own devices get the message too")

	// An HTTP send goes through the same bus: Alice's socket gets it live.
	apitest.Call(t, http.MethodPost, base+"/v1/conversations/"+conv.ID.String()+"/messages", bob.Token, api.SendRequest{ClientMsgID: "b-1", Body: "hi alice"}, nil, http.StatusCreated)
	got = a.next(tctx, protocol.TypeMessage).(protocol.Message)
	assert.Equal(t, "hi alice", got.Body)
	assert.Equal(t, int64(2), got.Seq)

	cancel() // SIGTERM
	for err == nil {
		_, _, err = a.ws.Read(context.Background()) // receipts may still come first
	}
	assert.Equal(t, websocket.StatusGoingAway, websocket.CloseStatus(err))
	require.NoError(t, <-done)
}
