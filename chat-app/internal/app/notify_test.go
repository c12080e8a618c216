package app

import (
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/api"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/apitest"
)

// In the embedded default a member with no connected device is notified once for a burst of
// messages, by the in-process queue and log sender.
func TestEmbeddedNotifiesOfflineMembersOncePerBurst(t *testing.T) {
	reg := prometheus.NewRegistry()
	_, base := serve(t, Options{API: true, Gateway: true, Registerer: reg})

	var alice, bob api.AuthResponse
	apitest.Call(t, http.MethodPost, base+"/v1/signup", "", `{"username":"alice","display_name":"A","password":"correct horse"}`, &alice, http.StatusCreated)
	apitest.Call(t, http.MethodPost, base+"/v1/signup", "", `{"username":"bob","display_name":"B","password":"correct horse"}`, &bob, http.StatusCreated)
	var conv struct{ ID string }
	apitest.Call(t, http.MethodPost, base+"/v1/conversations/direct", alice.Token, `{"user_id":"`+bob.User.ID.String()+`"}`, &conv, http.StatusOK)
	for i := range 5 { // bob has no device connected: one notification for the burst
		apitest.Call(t, http.MethodPost, base+"/v1/conversations/"+conv.ID+"/messages", alice.Token,
			`{"client_msg_id":"m`+string(rune('0'+i))+`","body":"hi"}`, nil, http.StatusCreated)
	}
	delivered := func() float64 {
		return counter(t, reg, "chat_notify_jobs_total", "result", "delivered")
	}
	require.Eventually(t, func() bool { return delivered() == 1 }, 10*time.Second, 20*time.Millisecond)
	time.Sleep(200 * time.Millisecond) // a second job, if the policy were wrong, would show by now
	assert.Equal(t, 1.0, delivered(), "one notification for the burst")
}

// counter reads the child of a counter vector registered on reg by one label value (0 when absent).
func counter(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
