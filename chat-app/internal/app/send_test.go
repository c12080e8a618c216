package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/api"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/apitest"
	"github.com/hyperscaledesignhub/DesignSystems/shared/testkit"
)

// wsSend authenticates a WebSocket session, sends one text message and returns the frame that
// answers it (an ack or an error).
func wsSend(t *testing.T, ws *websocket.Conn, conv api.ID, clientID string) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	frame := fmt.Sprintf(`{"type":"send","conversation_id":"%d","client_msg_id":%q,"body":"over the socket"}`, int64(conv), clientID)
	require.NoError(t, ws.Write(ctx, websocket.MessageText, []byte(frame)))
	for {
		_, b, err := ws.Read(ctx)
		require.NoError(t, err)
		var f map[string]any
		require.NoError(t, json.Unmarshal(b, &f))
		if f["type"] == "ack" || f["type"] == "error" {
			return f
		}
	}
}

// One process (cmd/chat) sends over HTTP and over the WebSocket through one send use case: both
// are stored by its group commit and counted in its metrics, and a publish that fails is counted
// the same way whichever transport the send came in on.
func TestBothTransportsShareOneSendPath(t *testing.T) {
	reg := prometheus.NewRegistry()
	a, base := serve(t, Options{API: true, Gateway: true, Registerer: reg})
	alice := apitest.Signup(t, base, "alice", "correct horse")
	bob := apitest.Signup(t, base, "bob", "correct horse")
	var c api.Conversation
	apitest.Call(t, http.MethodPost, base+"/v1/conversations/direct", alice.Token, api.DirectRequest{UserID: bob.User.ID}, &c, http.StatusOK)

	ws, _, err := websocket.Dial(t.Context(), "ws"+strings.TrimPrefix(base, "http")+"/ws", nil)
	require.NoError(t, err)
	defer ws.CloseNow()
	require.NoError(t, ws.Write(t.Context(), websocket.MessageText, []byte(`{"type":"auth","token":"`+alice.Token+`"}`)))

	apitest.Call(t, http.MethodPost, base+"/v1/conversations/"+fmt.Sprint(int64(c.ID))+"/messages", alice.Token,
		api.SendRequest{ClientMsgID: "h-1", Body: "over HTTP"}, nil, http.StatusCreated)
	assert.Equal(t, "ack", wsSend(t, ws, c.ID, "w-1")["type"])
	require.NoError(t, a.Sender.Wait(t.Context())) // publishes follow the answers
	assert.Equal(t, 2.0, testkit.MetricSum(t, reg, "chat_send_batch_messages"), "both sends went through the group commit")
	assert.Zero(t, testkit.MetricSum(t, reg, "chat_send_publish_errors_total"))

	require.NoError(t, a.Bus.Close()) // every publish fails from now on
	apitest.Call(t, http.MethodPost, base+"/v1/conversations/"+fmt.Sprint(int64(c.ID))+"/messages", alice.Token,
		api.SendRequest{ClientMsgID: "h-2", Body: "stored, not published"}, nil, http.StatusCreated)
	require.NoError(t, a.Sender.Wait(t.Context()))
	assert.Equal(t, 1.0, testkit.MetricSum(t, reg, "chat_send_publish_errors_total"), "an HTTP send's failed publish is counted")
	assert.Equal(t, "ack", wsSend(t, ws, c.ID, "w-2")["type"])
	require.NoError(t, a.Sender.Wait(t.Context()))
	assert.Equal(t, 2.0, testkit.MetricSum(t, reg, "chat_send_publish_errors_total"), "in the same metric as a WebSocket send's")
}

// chat-api alone (the split deployment) sends through the same use case.
func TestAPIOnlyProcessSendsThroughTheSendPath(t *testing.T) {
	reg := prometheus.NewRegistry()
	_, base := serve(t, Options{API: true, Registerer: reg})
	alice := apitest.Signup(t, base, "alice", "correct horse")
	var g api.Conversation
	apitest.Call(t, http.MethodPost, base+"/v1/conversations/group", alice.Token, api.GroupRequest{Title: "g"}, &g, http.StatusCreated)
	apitest.Call(t, http.MethodPost, base+"/v1/conversations/"+fmt.Sprint(int64(g.ID))+"/messages", alice.Token,
		api.SendRequest{ClientMsgID: "h-1", Body: "hi"}, nil, http.StatusCreated)
	assert.Equal(t, 1.0, testkit.MetricSum(t, reg, "chat_send_batch_messages"))
}
