package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/SherClockHolmes/webpush-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/api"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/auth"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/chat"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/chat/chattest"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/memstore"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/pgstore"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/snowflake"
	"github.com/hyperscaledesignhub/DesignSystems/shared/testkit"
)

// TestPushMemory runs the Web Push registration flows on the in-memory stores.
func TestPushMemory(t *testing.T) {
	t.Parallel()
	ids, err := snowflake.New(1, nil)
	require.NoError(t, err)
	users := memstore.New(ids)
	pushFlows(t, users, memstore.NewPushStore(users))
}

// TestPushPostgres runs the same flows on PostgreSQL.
func TestPushPostgres(t *testing.T) {
	t.Parallel()
	env := testkit.Postgres(t)
	_, err := pgstore.Migrate(t.Context(), env.Pool)
	require.NoError(t, err)
	ids, err := snowflake.New(2, nil)
	require.NoError(t, err)
	pushFlows(t, pgstore.New(env.Pool, ids), pgstore.NewPushStore(env.Pool))
}

// browserJSON is what PushSubscription.toJSON() of a browser gives for s.
func browserJSON(s chat.PushSubscription) string {
	return fmt.Sprintf(`{"endpoint":%q,"expirationTime":null,"keys":{"p256dh":%q,"auth":%q}}`, s.Endpoint, s.P256dh, s.Auth)
}

func pushFlows(t *testing.T, store chat.Store, push chat.PushStore) {
	_, vapid, err := webpush.GenerateVAPIDKeys()
	require.NoError(t, err)
	h := serve(t, store, func(o *api.Options) { o.Push, o.VAPIDPublicKey = push, vapid })
	alice, bob := h.signup(t, "alice"), h.signup(t, "bob")
	subs := func(a account) []string {
		t.Helper()
		list, err := push.PushSubscriptions(t.Context(), int64(a.user.ID))
		require.NoError(t, err)
		out := []string{}
		for _, s := range list {
			out = append(out, s.Endpoint)
		}
		return out
	}
	phone := chattest.NewPushSubscription(t, int64(alice.user.ID), "https://fcm.googleapis.com/fcm/send/phone")
	laptop := chattest.NewPushSubscription(t, int64(alice.user.ID), "https://updates.push.services.mozilla.com/wpush/v2/laptop")

	t.Run("the key is public", func(t *testing.T) {
		res := h.call(t, "", "GET", "/v1/push/key", nil)
		require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
		var k api.PushKeyResponse
		res.decode(t, &k)
		assert.Equal(t, vapid, k.PublicKey)
	})

	t.Run("register what the browser gives", func(t *testing.T) {
		for _, s := range []chat.PushSubscription{phone, laptop} {
			res := h.call(t, alice.token, "POST", "/v1/push/subscriptions", browserJSON(s))
			require.Equal(t, http.StatusCreated, res.status, "body: %s", res.body)
		}
		assert.Equal(t, []string{phone.Endpoint, laptop.Endpoint}, subs(alice))
		got, err := push.PushSubscriptions(t.Context(), int64(alice.user.ID))
		require.NoError(t, err)
		assert.Equal(t, phone.P256dh, got[0].P256dh)
		assert.Equal(t, phone.Auth, got[0].Auth)

		res := h.call(t, alice.token, "POST", "/v1/push/subscriptions",
			strings.Replace(browserJSON(phone), `"expirationTime":null`, `"expirationTime":1767225600000`, 1))
		require.Equal(t, http.StatusCreated, res.status, "again, with an expiration time: body %s", res.body)
		assert.Len(t, subs(alice), 2, "registering again creates nothing")
	})

	t.Run("needs a token", func(t *testing.T) {
		res := h.call(t, "", "POST", "/v1/push/subscriptions", browserJSON(phone))
		res.problem(t, http.StatusUnauthorized)
		res = h.call(t, "", "DELETE", "/v1/push/subscriptions", api.PushUnsubscribeRequest{Endpoint: phone.Endpoint})
		res.problem(t, http.StatusUnauthorized)
	})

	t.Run("bad subscriptions are a 400", func(t *testing.T) {
		ok := chattest.NewPushSubscription(t, 0, "https://fcm.googleapis.com/fcm/send/bad")
		for name, body := range map[string]string{
			"http endpoint":     browserJSON(chat.PushSubscription{Endpoint: "http://push.example.com/x", P256dh: ok.P256dh, Auth: ok.Auth}),
			"relative endpoint": browserJSON(chat.PushSubscription{Endpoint: "/push/x", P256dh: ok.P256dh, Auth: ok.Auth}),
			"endpoint too long": browserJSON(chat.PushSubscription{Endpoint: "https://p.example/" + strings.Repeat("x", 2048), P256dh: ok.P256dh, Auth: ok.Auth}),
			"short p256dh":      browserJSON(chat.PushSubscription{Endpoint: ok.Endpoint, P256dh: ok.P256dh[:43], Auth: ok.Auth}),
			"short auth":        browserJSON(chat.PushSubscription{Endpoint: ok.Endpoint, P256dh: ok.P256dh, Auth: ok.Auth[:10]}),
			"no keys":           fmt.Sprintf(`{"endpoint":%q}`, ok.Endpoint),
			"unknown field":     strings.Replace(browserJSON(ok), `"expirationTime"`, `"expires"`, 1),
			"malformed":         `{"endpoint":`,
			"keys as a string":  fmt.Sprintf(`{"endpoint":%q,"keys":"k"}`, ok.Endpoint),
			// Not a push service: the notifier would POST wherever a user points it.
			"internal host":   browserJSON(chat.PushSubscription{Endpoint: "https://10.0.0.7/admin", P256dh: ok.P256dh, Auth: ok.Auth}),
			"look-alike host": browserJSON(chat.PushSubscription{Endpoint: "https://evilfcm.googleapis.com.example/x", P256dh: ok.P256dh, Auth: ok.Auth}),
			"localhost":       browserJSON(chat.PushSubscription{Endpoint: "http://127.0.0.1:8080/x", P256dh: ok.P256dh, Auth: ok.Auth}),
		} {
			detail := h.call(t, alice.token, "POST", "/v1/push/subscriptions", body).problem(t, http.StatusBadRequest)
			assert.NotEmpty(t, detail, name)
		}
		assert.Len(t, subs(alice), 2, "nothing stored")
	})

	t.Run("a browser that changes hands moves to its new user", func(t *testing.T) {
		res := h.call(t, bob.token, "POST", "/v1/push/subscriptions", browserJSON(laptop))
		require.Equal(t, http.StatusCreated, res.status, "body: %s", res.body)
		assert.Equal(t, []string{phone.Endpoint}, subs(alice))
		assert.Equal(t, []string{laptop.Endpoint}, subs(bob))
	})

	t.Run("unregister", func(t *testing.T) {
		res := h.call(t, alice.token, "DELETE", "/v1/push/subscriptions", api.PushUnsubscribeRequest{Endpoint: laptop.Endpoint})
		require.Equal(t, http.StatusNoContent, res.status, "body: %s", res.body)
		assert.Equal(t, []string{laptop.Endpoint}, subs(bob), "alice cannot unregister bob's browser")
		res = h.call(t, alice.token, "DELETE", "/v1/push/subscriptions", api.PushUnsubscribeRequest{Endpoint: phone.Endpoint})
		require.Equal(t, http.StatusNoContent, res.status, "body: %s", res.body)
		assert.Empty(t, subs(alice))
		res = h.call(t, alice.token, "DELETE", "/v1/push/subscriptions", api.PushUnsubscribeRequest{Endpoint: phone.Endpoint})
		assert.Equal(t, http.StatusNoContent, res.status, "again: nothing to do, not an error")
		h.call(t, alice.token, "DELETE", "/v1/push/subscriptions", api.PushUnsubscribeRequest{}).problem(t, http.StatusBadRequest)
		h.call(t, alice.token, "DELETE", "/v1/push/subscriptions", `{"endpoint":"x","extra":1}`).problem(t, http.StatusBadRequest)
	})
}

// Without a VAPID key push is off: the key and registration answer 404 (the web client hides its
// switch), while unregistering still works so a browser can clean up.
func TestPushOff(t *testing.T) {
	t.Parallel()
	ids, err := snowflake.New(1, nil)
	require.NoError(t, err)
	users := memstore.New(ids)
	push := memstore.NewPushStore(users)
	h := serve(t, users, func(o *api.Options) { o.Push = push })
	alice := h.signup(t, "alice")
	sub := chattest.NewPushSubscription(t, int64(alice.user.ID), "https://fcm.googleapis.com/fcm/send/x")

	assert.Contains(t, h.call(t, "", "GET", "/v1/push/key", nil).problem(t, http.StatusNotFound), "VAPID_PUBLIC_KEY")
	h.call(t, alice.token, "POST", "/v1/push/subscriptions", browserJSON(sub)).problem(t, http.StatusNotFound)
	res := h.call(t, alice.token, "DELETE", "/v1/push/subscriptions", api.PushUnsubscribeRequest{Endpoint: sub.Endpoint})
	assert.Equal(t, http.StatusNoContent, res.status)

	bare := serve(t, memStore(t), nil) // no push store at all
	bob := bare.signup(t, "bob")
	bare.call(t, "", "GET", "/v1/push/key", nil).problem(t, http.StatusNotFound)
	bare.call(t, bob.token, "DELETE", "/v1/push/subscriptions", api.PushUnsubscribeRequest{Endpoint: sub.Endpoint}).problem(t, http.StatusNotFound)
}

func TestNewChecksTheVAPIDKey(t *testing.T) {
	t.Parallel()
	tokens, err := auth.NewTokens(make([]byte, 32), ttl, nil)
	require.NoError(t, err)
	ids, err := snowflake.New(1, nil)
	require.NoError(t, err)
	users := memstore.New(ids)
	_, good, err := webpush.GenerateVAPIDKeys()
	require.NoError(t, err)
	for name, tc := range map[string]struct {
		push chat.PushStore
		key  string
	}{
		"no push store":   {nil, good},
		"not base64url":   {memstore.NewPushStore(users), "not a key!"},
		"not a P-256 key": {memstore.NewPushStore(users), good[:40]},
	} {
		_, err := api.New(api.Options{Store: users, Tokens: tokens, Push: tc.push, VAPIDPublicKey: tc.key})
		assert.Error(t, err, name)
	}
	_, err = api.New(api.Options{Store: users, Tokens: tokens, Push: memstore.NewPushStore(users), VAPIDPublicKey: good})
	assert.NoError(t, err)
}
