package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/SherClockHolmes/webpush-go"
	"github.com/go-chi/chi/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/apitest"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/app"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/notify"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/notify/pushtest"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/pgstore"
	"github.com/hyperscaledesignhub/DesignSystems/shared/boot"
	"github.com/hyperscaledesignhub/DesignSystems/shared/testkit"
)

// TestRunDeliversAJobFromTheStream boots the notifier on the real Redis, puts a job on its stream
// as a gateway would, and sees the log sender deliver it: acked off the stream and counted.
func TestRunDeliversAJobFromTheStream(t *testing.T) {
	env := testkit.Redis(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	t.Setenv("HTTP_ADDR", addr)
	t.Setenv("REDIS_URL", env.URL)
	t.Setenv("KEY_PREFIX", env.Prefix)
	t.Setenv("CONSUMER", "test-notifier")
	t.Setenv("OTEL_SDK_DISABLED", "true")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- boot.Run(ctx, "chat-notifier", "test", run) }()

	get := func(path string) (int, string) {
		res, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0, ""
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	require.Eventually(t, func() bool { code, _ := get("/readyz"); return code == http.StatusOK }, 20*time.Second, 20*time.Millisecond)

	q, err := notify.NewRedis(t.Context(), env.Client, env.Prefix, notify.QueueOptions{})
	require.NoError(t, err)
	require.NoError(t, q.Enqueue(t.Context(), notify.Job{UserID: 2, ConversationID: 3, SenderID: 1, Seq: 1, Preview: "hi"}))

	require.Eventually(t, func() bool {
		_, body := get("/metrics")
		return strings.Contains(body, `chat_notify_jobs_total{result="delivered"} 1`)
	}, 20*time.Second, 20*time.Millisecond, "the log sender delivered the job")
	n, err := env.Client.XLen(t.Context(), q.Stream()).Result()
	require.NoError(t, err)
	assert.Zero(t, n, "acked and removed from the stream")
	pending, err := env.Client.XPending(t.Context(), q.Stream(), notify.Group).Result()
	require.NoError(t, err)
	assert.Zero(t, pending.Count)

	cancel() // SIGTERM
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("no shutdown within 20s")
	}
}

// TestRunWebPushDeliversToABrowserRegisteredThroughTheAPI is the Web Push path end to end on
// real PostgreSQL and Redis: bob registers two browsers through chat-api's POST
// /v1/push/subscriptions (one of them since expired at its push service); alice sends him a
// message over HTTP while he has no connection, so the API's policy queues a job on the stream;
// this notifier, with SENDER=webpush, reads bob's subscriptions from PostgreSQL and pushes to
// them. The live browser receives the payload (VAPID checked, decrypted as a browser would) and
// the expired one is deleted from the table.
func TestRunWebPushDeliversToABrowserRegisteredThroughTheAPI(t *testing.T) {
	pg, rd := testkit.Postgres(t), testkit.Redis(t)
	vapidPrivate, vapidPublic, err := webpush.GenerateVAPIDKeys()
	require.NoError(t, err)
	ps := pushtest.New(t, vapidPublic, "mailto:ops@example.com")
	laptop, stale := ps.Device("/push/bob-laptop", http.StatusCreated), ps.Device("/push/bob-old-phone", http.StatusGone)

	// chat-api, as cmd/chat-api assembles it.
	secret, _ := app.Secret("")
	quiet := slog.New(slog.DiscardHandler)
	a, err := app.New(t.Context(), app.Options{API: true, DatabaseURL: pg.URL, Migrate: true, RedisURL: rd.URL,
		KeyPrefix: rd.Prefix, Secret: secret, LoginPerMinute: -1, VAPIDPublicKey: vapidPublic, Logger: quiet,
		PushHosts: []string{"127.0.0.1"}}) // the fake push service
	require.NoError(t, err)
	t.Cleanup(a.Close)
	r := chi.NewRouter()
	a.Routes(r)
	api := httptest.NewServer(r)
	t.Cleanup(api.Close)
	alice := apitest.Signup(t, api.URL, "alice", "correct horse")
	bob := apitest.Signup(t, api.URL, "bob", "correct horse")
	var key struct {
		PublicKey string `json:"public_key"`
	}
	apitest.Call(t, http.MethodGet, api.URL+"/v1/push/key", "", nil, &key, http.StatusOK)
	require.Equal(t, vapidPublic, key.PublicKey, "the browser subscribes with the notifier's key")
	for _, d := range []pushtest.Device{laptop, stale} {
		sub := fmt.Sprintf(`{"endpoint":%q,"expirationTime":null,"keys":{"p256dh":%q,"auth":%q}}`, d.Endpoint, d.P256dh, d.Auth)
		apitest.Call(t, http.MethodPost, api.URL+"/v1/push/subscriptions", bob.Token, sub, nil, http.StatusCreated)
	}

	// The notifier.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	for k, v := range map[string]string{"HTTP_ADDR": addr, "REDIS_URL": rd.URL, "KEY_PREFIX": rd.Prefix, "CONSUMER": "test-notifier",
		"OTEL_SDK_DISABLED": "true", "SENDER": "webpush", "DATABASE_URL": pg.URL, "VAPID_PUBLIC_KEY": vapidPublic, "PUSH_HOSTS": "127.0.0.1",
		"VAPID_PRIVATE_KEY": vapidPrivate, "VAPID_SUBJECT": "mailto:ops@example.com"} {
		t.Setenv(k, v)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- boot.Run(ctx, "chat-notifier", "test", run) }()

	var conv struct{ ID string }
	apitest.Call(t, http.MethodPost, api.URL+"/v1/conversations/direct", alice.Token, `{"user_id":"`+bob.User.ID.String()+`"}`, &conv, http.StatusOK)
	apitest.Call(t, http.MethodPost, api.URL+"/v1/conversations/"+conv.ID+"/messages", alice.Token,
		`{"client_msg_id":"m-1","body":"dinner at 8?"}`, nil, http.StatusCreated)

	require.Eventually(t, func() bool { return len(ps.Pushes("/push/bob-laptop")) == 1 }, 20*time.Second, 20*time.Millisecond,
		"bob's browser got the push")
	push := ps.Pushes("/push/bob-laptop")[0]
	var payload notify.Payload
	require.NoError(t, json.Unmarshal(push.Payload, &payload))
	assert.Equal(t, notify.Payload{Title: "New messages", Body: "dinner at 8?", ConversationID: conv.ID, Seq: 1}, payload)
	assert.Equal(t, "c"+conv.ID, push.Topic)

	bobID := int64(bob.User.ID)
	require.Eventually(t, func() bool {
		subs, err := pgstore.NewPushStore(pg.Pool).PushSubscriptions(t.Context(), bobID)
		return err == nil && len(subs) == 1 && subs[0].Endpoint == laptop.Endpoint
	}, 20*time.Second, 20*time.Millisecond, "the subscription its push service answered 410 for is deleted from PostgreSQL")
	assert.Len(t, ps.Pushes("/push/bob-old-phone"), 1)

	cancel() // SIGTERM
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("no shutdown within 20s")
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	ok := Config{RedisURL: "redis://x", Sender: "log", MaxAttempts: 5, Backoff: 10 * time.Second, SendTimeout: 5 * time.Second}
	require.NoError(t, ok.Validate(), "the log sender needs no database")
	push := ok
	push.Sender, push.DatabaseURL, push.VAPIDPublicKey, push.VAPIDPrivateKey, push.VAPIDSubject = "webpush", "postgres://x", "pub", "priv", "mailto:ops@example.com"
	require.NoError(t, push.Validate())
	for name, mut := range map[string]func(*Config){
		"no redis":        func(c *Config) { c.RedisURL = "" },
		"unknown sender":  func(c *Config) { c.Sender = "sms" },
		"webpush no keys": func(c *Config) { c.Sender = "webpush" },
		"webpush no database": func(c *Config) {
			c.Sender, c.VAPIDPublicKey, c.VAPIDPrivateKey, c.VAPIDSubject = "webpush", "pub", "priv", "mailto:ops@example.com"
		},
		"zero attempts":     func(c *Config) { c.MaxAttempts = 0 },
		"backoff too short": func(c *Config) { c.Backoff = time.Second },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := ok
			mut(&c)
			assert.Error(t, c.Validate())
		})
	}
}
