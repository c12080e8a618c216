package tests

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/api"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/auth"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/fanout"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/gateway"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/memstore"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/presence"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/send"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/snowflake"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/web"
)

// tokenVerifier adapts auth.Tokens to gateway.Verifier as cmd/chat-gateway does: an expired token
// becomes gateway.ErrTokenExpired, so the client is told token_expired rather than auth_failed.
type tokenVerifier struct{ t *auth.Tokens }

func (v tokenVerifier) Verify(token string) (int64, time.Time, error) {
	user, exp, err := v.t.Verify(token)
	if errors.Is(err, auth.ErrExpired) {
		return 0, time.Time{}, fmt.Errorf("%w: %w", gateway.ErrTokenExpired, err)
	}
	return user, exp, err
}

// presenceGrace is short so a contact going away and back is seen within the test, instead of
// after the production 10 s; a socket refresh (milliseconds) still stays inside it.
const presenceGrace = 700 * time.Millisecond

// chatServer is the whole chat on one origin, and the store of its browsers' push subscriptions.
type chatServer struct {
	*httptest.Server
	push *memstore.PushStore
}

// newChatServer serves the whole chat in one process, as a browser sees it: the HTTP API under
// /v1, the WebSocket gateway at /ws and the web client at /, on one origin. tune changes the API's
// options (a VAPID key turns Web Push on).
func newChatServer(t *testing.T, tune ...func(*api.Options)) *chatServer {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ids, err := snowflake.New(1, nil)
	require.NoError(t, err)
	store := memstore.New(ids)
	tokens, err := auth.NewTokens([]byte("browser-test-secret-of-at-least-32-bytes"), time.Hour, nil)
	require.NoError(t, err)

	bus := fanout.NewMemory()
	tracker := presence.NewMemory(presence.Options{Notify: gateway.PresenceNotifier(store, bus, 0, logger), Grace: presenceGrace})
	sender, err := send.New(send.Options{Store: store, Publisher: send.BusPublisher{Bus: bus}, Logger: logger})
	require.NoError(t, err)
	gw, err := gateway.New(gateway.Options{Store: store, Bus: bus, Verifier: tokenVerifier{tokens}, Presence: tracker, Logger: logger,
		Sender: sender})
	require.NoError(t, err)
	push := memstore.NewPushStore(store)
	o := api.Options{Store: store, Tokens: tokens, Publisher: gateway.Publisher{Bus: bus}, Sender: sender, Logger: logger,
		LoginPerMinute: -1, Push: push}
	for _, f := range tune {
		f(&o)
	}
	a, err := api.New(o)
	require.NoError(t, err)

	r := chi.NewRouter()
	a.Routes(r)
	r.Handle("/ws", gw)
	r.Handle("/*", web.Handler(web.Options{}))
	srv := httptest.NewServer(r)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = gw.Shutdown(ctx) // hijacked WebSockets are not closed by srv.Close
		srv.Close()
		_ = tracker.Close()
		_ = bus.Close()
	})
	return &chatServer{Server: srv, push: push}
}

// testWriter sends the server's log lines to t.Log, so they show only for a failing test.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}
