package gateway

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/presence"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/protocol"
)

func TestPresenceSnapshotAndChangesReachContacts(t *testing.T) {
	t.Parallel()
	var tr *presence.Memory
	e := newEnv(t, envOpts{nodes: 2, tune: func(o *Options) {
		if tr == nil {
			tr = presence.NewMemory(presence.Options{Notify: PresenceNotifier(o.Store, o.Bus, o.Logger)})
		}
		o.Presence = tr
	}})
	t.Cleanup(func() { _ = tr.Close() })
	u := e.users(t, "alice", "bob")
	ctx := context.Background()
	require.NoError(t, e.store.AddContact(ctx, u[0], u[1])) // alice watches bob
	require.NoError(t, e.store.AddContact(ctx, u[1], u[0]))

	b := connect(t, e.urls[1], u[1])
	a := connect(t, e.urls[0], u[0])
	// Alice's snapshot lists bob as online; bob learns through the bus that alice came online.
	assert.Equal(t, protocol.Presence{UserID: protocol.ID(u[1]), Status: protocol.StatusOnline}, expectFrame[protocol.Presence](a))
	assert.Equal(t, protocol.Presence{UserID: protocol.ID(u[0]), Status: protocol.StatusOnline}, expectFrame[protocol.Presence](b))

	// Ping is the heartbeat; closing the session disconnects it (offline after the grace).
	a.send(protocol.Ping{Nonce: "p"})
	assert.Equal(t, "p", expectFrame[protocol.Pong](a).Nonce)
	s, err := tr.Status(ctx, u[0])
	require.NoError(t, err)
	assert.Equal(t, presence.Online, s)
	require.NoError(t, a.ws.CloseNow())
	assert.Equal(t, protocol.Presence{UserID: protocol.ID(u[0]), Status: protocol.StatusOffline}, expectFrame[protocol.Presence](b))
}
