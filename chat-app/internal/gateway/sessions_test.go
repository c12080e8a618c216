package gateway

import (
	"errors"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/protocol"
	"github.com/hyperscaledesignhub/DesignSystems/shared/testkit"
)

// One session more than the cap (the default, 20) closes the user's oldest session with 4009,
// and each such close is counted; the newer sessions and other users' are untouched.
func TestSessionCapClosesTheOldest(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	u := e.users(t, "many", "other")
	other := connect(t, e.urls[0], u[1])

	sessions := make([]*client, DefaultMaxSessionsPerUser)
	for i := range sessions {
		sessions[i] = connect(t, e.urls[0], u[0])
	}
	assert.Zero(t, testkit.MetricSum(t, e.regs[0], "chat_gateway_session_cap_closes_total"))

	for i := range 2 { // the 21st closes the 1st, the 22nd the 2nd
		connect(t, e.urls[0], u[0])
		assert.Equal(t, websocket.StatusCode(protocol.CloseSessionLimit), sessions[i].closeStatus())
		var ce websocket.CloseError
		require.True(t, errors.As(sessions[i].err, &ce))
		assert.Equal(t, protocol.CloseSessionLimit.Reason(), ce.Reason)
	}
	assert.Equal(t, 2.0, testkit.MetricSum(t, e.regs[0], "chat_gateway_session_cap_closes_total"))
	for _, c := range append(sessions[2:], other) {
		c.send(protocol.Ping{Nonce: "alive"})
		assert.Equal(t, "alive", expectFrame[protocol.Pong](c).Nonce)
	}
}

// The cap is configurable; a closed session frees its place, so reconnecting within the cap
// closes nothing.
func TestSessionCapCountsOpenSessions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{tune: func(o *Options) { o.MaxSessionsPerUser = 2 }})
	u := e.users(t, "two")
	a := connect(t, e.urls[0], u[0])
	b := connect(t, e.urls[0], u[0])
	require.NoError(t, a.ws.Close(websocket.StatusNormalClosure, "tab closed"))
	<-a.done
	// The server notices a's close asynchronously; wait until it unregistered it.
	require.Eventually(t, func() bool {
		e.gws[0].mu.Lock()
		defer e.gws[0].mu.Unlock()
		return len(e.gws[0].sessions[u[0]]) == 1
	}, waitFor, 10*time.Millisecond)
	c := connect(t, e.urls[0], u[0])
	for _, s := range []*client{b, c} {
		s.send(protocol.Ping{Nonce: "alive"})
		assert.Equal(t, "alive", expectFrame[protocol.Pong](s).Nonce)
	}
	assert.Zero(t, testkit.MetricSum(t, e.regs[0], "chat_gateway_session_cap_closes_total"))
}
