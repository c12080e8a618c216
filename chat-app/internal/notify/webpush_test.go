package notify

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"testing"

	"github.com/SherClockHolmes/webpush-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/chat"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/memstore"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/notify/pushtest"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/snowflake"
)

// payloads decodes what a device received as the service worker would.
func payloads(t *testing.T, ps *pushtest.Service, path string) []Payload {
	t.Helper()
	var out []Payload
	for _, p := range ps.Pushes(path) {
		var pl Payload
		require.NoError(t, json.Unmarshal(p.Payload, &pl), "payload %s", p.Payload)
		out = append(out, pl)
	}
	return out
}

// TestWebPushSender sends through PushStoreSubscriptions over the in-memory chat.PushStore (the
// PostgreSQL one keeps the same contract) to a push service that checks VAPID and decrypts.
func TestWebPushSender(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	priv, pub, err := webpush.GenerateVAPIDKeys()
	require.NoError(t, err)
	ps := pushtest.New(t, pub, "mailto:ops@example.com")
	phone, laptop, old := ps.Device("/push/phone", http.StatusCreated), ps.Device("/push/laptop", http.StatusCreated),
		ps.Device("/push/old", http.StatusGone)
	other := ps.Device("/push/other", http.StatusCreated)

	ids, err := snowflake.New(1, nil)
	require.NoError(t, err)
	users := memstore.New(ids)
	store := memstore.NewPushStore(users)
	alice, err := users.CreateUser(ctx, chat.User{Username: "alice"})
	require.NoError(t, err)
	bob, err := users.CreateUser(ctx, chat.User{Username: "bob"})
	require.NoError(t, err)
	register := func(user int64, d pushtest.Device) {
		require.NoError(t, store.SavePushSubscription(ctx, chat.PushSubscription{UserID: user, Endpoint: d.Endpoint, P256dh: d.P256dh, Auth: d.Auth}))
	}
	for _, d := range []pushtest.Device{phone, laptop, old} {
		register(alice.ID, d)
	}
	register(bob.ID, other)
	s, err := NewWebPushSender(WebPushOptions{Subscriptions: PushStoreSubscriptions{store}, VAPIDPublicKey: pub, VAPIDPrivateKey: priv,
		Subject: "mailto:ops@example.com", Logger: slog.New(slog.DiscardHandler), Hosts: []string{"127.0.0.1"}})
	require.NoError(t, err)

	j := Job{ID: "1-0", UserID: alice.ID, ConversationID: 42, SenderID: bob.ID, Seq: 3, Preview: "lunch?"}
	require.NoError(t, s.Send(ctx, j), "a 410 is not a failure")
	want := Payload{Title: "New messages", Body: "lunch?", ConversationID: "42", Seq: 3}
	assert.Equal(t, []Payload{want}, payloads(t, ps, "/push/phone"))
	assert.Equal(t, []Payload{want}, payloads(t, ps, "/push/laptop"))
	assert.Len(t, ps.Pushes("/push/old"), 1)
	assert.Empty(t, ps.Pushes("/push/other"), "only the job's user")
	got := ps.Pushes("/push/phone")[0]
	assert.Equal(t, "3600", got.TTL)
	assert.Equal(t, "c42", got.Topic, "one pending push per conversation")
	assert.Equal(t, "normal", got.Urgency)

	left, err := store.PushSubscriptions(ctx, alice.ID)
	require.NoError(t, err)
	var endpoints []string
	for _, l := range left {
		endpoints = append(endpoints, l.Endpoint)
	}
	assert.ElementsMatch(t, []string{phone.Endpoint, laptop.Endpoint}, endpoints, "410 Gone deleted the subscription from the store")

	t.Run("a push service error is retried", func(t *testing.T) {
		ps.SetStatus("/push/phone", http.StatusServiceUnavailable)
		err := s.Send(t.Context(), j)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "status 503")
		left, _ := store.PushSubscriptions(t.Context(), alice.ID)
		assert.Len(t, left, 2, "kept")
	})
	t.Run("a subscription outside the allowed hosts is removed, not pushed to", func(t *testing.T) {
		ps.SetStatus("/push/phone", http.StatusCreated)
		strict, err := NewWebPushSender(WebPushOptions{Subscriptions: PushStoreSubscriptions{store}, VAPIDPublicKey: pub,
			VAPIDPrivateKey: priv, Subject: "mailto:ops@example.com", Logger: slog.New(slog.DiscardHandler)}) // the default hosts
		require.NoError(t, err)
		before := len(ps.Pushes("/push/phone"))
		require.NoError(t, strict.Send(t.Context(), j))
		assert.Len(t, ps.Pushes("/push/phone"), before, "127.0.0.1 is not a push service by default")
		left, _ := store.PushSubscriptions(t.Context(), alice.ID)
		assert.Empty(t, left, "removed")
	})
	t.Run("no subscription is nothing to do", func(t *testing.T) {
		assert.NoError(t, s.Send(t.Context(), Job{UserID: 99}))
	})
	t.Run("keys are required", func(t *testing.T) {
		_, err := NewWebPushSender(WebPushOptions{Subscriptions: PushStoreSubscriptions{store}, VAPIDPublicKey: pub, Subject: "mailto:x@y"})
		assert.Error(t, err)
	})
}
