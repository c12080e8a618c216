package app

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/api"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/apitest"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/chat"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/gateway"
	"github.com/hyperscaledesignhub/DesignSystems/shared/config"
)

type allParts struct {
	Common
	APIConfig
	GatewayConfig
}

func TestConfigDefaultsAndChecks(t *testing.T) {
	cfg, err := config.LoadFrom[allParts](map[string]string{})
	require.NoError(t, err)
	assert.Equal(t, float64(chat.DefaultSendRate), cfg.SendRate, "SEND_RATE's default is chat's")
	assert.Equal(t, chat.DefaultSendBurst, cfg.SendBurst)
	require.NoError(t, cfg.Common.Check(true), "no DATABASE_URL: a random secret is fine")
	require.NoError(t, cfg.APIConfig.Check())

	o := cfg.Common.Options([]byte("k"))
	cfg.APIConfig.Apply(&o)
	cfg.GatewayConfig.Apply(&o)
	assert.True(t, o.API && o.Gateway && o.Migrate)
	assert.Equal(t, 30.0, o.LoginPerMinute)
	require.NoError(t, cfg.GatewayConfig.Check())
	assert.Equal(t, gateway.DefaultPresenceGroupLimit, o.PresenceGroupLimit, "PRESENCE_GROUP_LIMIT's default is the gateway's")
	assert.Equal(t, gateway.DefaultMaxSessionsPerUser, o.MaxSessionsPerUser, "MAX_SESSIONS_PER_USER's default is the gateway's")
	for env, want := range map[string]string{"PRESENCE_GROUP_LIMIT": "1", "MAX_SESSIONS_PER_USER": "0"} {
		gc, err := config.LoadFrom[allParts](map[string]string{env: want})
		require.NoError(t, err)
		assert.ErrorContains(t, gc.GatewayConfig.Check(), env)
	}

	for _, c := range []struct {
		env    map[string]string
		secret bool // Common.Check's secretRequired
		want   string
	}{
		{map[string]string{"DATABASE_URL": "postgres://x/y"}, true, "JWT_SECRET is required"},
		{map[string]string{"JWT_SECRET": "short"}, false, "at least 32"},
		{map[string]string{"NODE_ID": "1024"}, false, "NODE_ID"},
		{map[string]string{"SEND_RATE": "0"}, false, "SEND_RATE"},
		{map[string]string{"SEND_BURST": "0"}, false, "SEND_BURST"},
	} {
		cfg, err := config.LoadFrom[allParts](c.env)
		require.NoError(t, err)
		assert.ErrorContains(t, cfg.Common.Check(c.secret), c.want, "%v", c.env)
	}
	cfg, err = config.LoadFrom[allParts](map[string]string{"DATABASE_URL": "postgres://x/y"})
	require.NoError(t, err)
	assert.NoError(t, cfg.Common.Check(false), "one process may sign with a random secret")
	cfg, err = config.LoadFrom[allParts](map[string]string{"LOGIN_PER_MINUTE": "0", "TOKEN_TTL": "10s"})
	require.NoError(t, err)
	assert.ErrorContains(t, cfg.APIConfig.Check(), "TOKEN_TTL")
	cfg.TokenTTL = time.Hour
	require.NoError(t, cfg.APIConfig.Check())
	cfg.APIConfig.Apply(&o)
	assert.Negative(t, o.LoginPerMinute, "0 disables the login limit")
}

// One process has one send budget per user: sends over HTTP and over the WebSocket spend it
// together, so using both paths does not double it.
func TestOneSendBudgetForHTTPAndWebSocket(t *testing.T) {
	a, base := serve(t, Options{API: true, Gateway: true, SendRate: 0.01, SendBurst: 2})

	alice, err := a.Store.CreateUser(t.Context(), chat.User{Username: "alice"})
	require.NoError(t, err)
	bob, err := a.Store.CreateUser(t.Context(), chat.User{Username: "bob"})
	require.NoError(t, err)
	conv, err := a.Store.Direct(t.Context(), alice.ID, bob.ID)
	require.NoError(t, err)
	token, _, err := a.Tokens.Issue(alice.ID)
	require.NoError(t, err)

	send := func(id string, want int) {
		apitest.Call(t, http.MethodPost, base+"/v1/conversations/"+strconv.FormatInt(conv.ID, 10)+"/messages", token,
			api.SendRequest{ClientMsgID: id, Body: "hi"}, nil, want)
	}
	send("h1", http.StatusCreated)
	send("h2", http.StatusCreated)

	ws, _, err := websocket.Dial(t.Context(), "ws"+strings.TrimPrefix(base, "http")+"/ws",
		&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
	require.NoError(t, err)
	defer func() { _ = ws.CloseNow() }()
	require.NoError(t, ws.Write(t.Context(), websocket.MessageText,
		[]byte(`{"type":"send","conversation_id":"`+strconv.FormatInt(conv.ID, 10)+`","client_msg_id":"w1","body":"hi"}`)))
	for {
		_, b, err := ws.Read(t.Context())
		require.NoError(t, err)
		if strings.Contains(string(b), `"type":"error"`) {
			assert.Contains(t, string(b), `"rate_limited"`, "the HTTP sends spent the budget: %s", b)
			break
		}
		require.NotContains(t, string(b), `"type":"ack"`, "the WebSocket had a budget of its own")
	}
	send("h3", http.StatusTooManyRequests)
}
