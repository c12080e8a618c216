package main

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/auth"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/protocol"
	"github.com/hyperscaledesignhub/DesignSystems/shared/boot"
)

// TestRunServesWebSocketsAndStops boots the embedded default and speaks the protocol over /ws.
func TestRunServesWebSocketsAndStops(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	secret := "0123456789abcdef0123456789abcdef"
	t.Setenv("GATEWAY_ADDR", addr)
	t.Setenv("JWT_SECRET", secret)
	t.Setenv("OTEL_SDK_DISABLED", "true")

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- boot.Run(ctx, "chat-gateway", "test", run) }()

	tokens, err := auth.NewTokens([]byte(secret), time.Minute, nil)
	require.NoError(t, err)
	tok, _, err := tokens.Issue(42)
	require.NoError(t, err)
	var ws *websocket.Conn
	require.Eventually(t, func() bool {
		dctx, dcancel := context.WithTimeout(ctx, time.Second)
		defer dcancel()
		ws, _, err = websocket.Dial(dctx, "ws://"+addr+"/ws", nil)
		return err == nil
	}, 20*time.Second, 50*time.Millisecond)
	b, _ := protocol.EncodeClient(protocol.Auth{Token: tok})
	require.NoError(t, ws.Write(ctx, websocket.MessageText, b))
	_, got, err := ws.Read(ctx)
	require.NoError(t, err)
	f, err := protocol.DecodeServer(got)
	require.NoError(t, err)
	assert.Equal(t, protocol.ID(42), f.(protocol.Ready).UserID)

	cancel() // SIGTERM: the session is closed with 1001
	_, _, err = ws.Read(context.Background())
	assert.Equal(t, websocket.StatusGoingAway, websocket.CloseStatus(err))
	require.NoError(t, <-done)
}
