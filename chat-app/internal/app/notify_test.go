package app

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// In the embedded default a member with no connected device is notified once for a burst of
// messages, by the in-process queue and log sender.
func TestEmbeddedNotifiesOfflineMembersOncePerBurst(t *testing.T) {
	reg := prometheus.NewRegistry()
	secret, _ := Secret("")
	a, err := New(t.Context(), Options{API: true, Gateway: true, Secret: secret, Logger: quiet, LoginPerMinute: -1, Registerer: reg})
	require.NoError(t, err)
	t.Cleanup(a.Close)
	r := chi.NewRouter()
	a.Routes(r)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)

	call := func(method, path, token, body string, out any) int {
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		if out != nil {
			require.NoError(t, json.NewDecoder(res.Body).Decode(out))
		}
		return res.StatusCode
	}
	type session struct {
		User  struct{ ID string } `json:"user"`
		Token string              `json:"token"`
	}
	var alice, bob session
	require.Equal(t, http.StatusCreated, call(http.MethodPost, "/v1/signup", "", `{"username":"alice","display_name":"A","password":"correct horse"}`, &alice))
	require.Equal(t, http.StatusCreated, call(http.MethodPost, "/v1/signup", "", `{"username":"bob","display_name":"B","password":"correct horse"}`, &bob))
	var conv struct{ ID string }
	require.Equal(t, http.StatusOK, call(http.MethodPost, "/v1/conversations/direct", alice.Token, `{"user_id":"`+bob.User.ID+`"}`, &conv))
	for i := range 5 { // bob has no device connected: one notification for the burst
		require.Equal(t, http.StatusCreated, call(http.MethodPost, "/v1/conversations/"+conv.ID+"/messages", alice.Token,
			`{"client_msg_id":"m`+string(rune('0'+i))+`","body":"hi"}`, nil))
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
