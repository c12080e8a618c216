package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/notify"
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

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	ok := Config{RedisURL: "redis://x", Sender: "log", MaxAttempts: 5, Backoff: 10 * time.Second, SendTimeout: 5 * time.Second}
	require.NoError(t, ok.Validate())
	for name, mut := range map[string]func(*Config){
		"no redis":          func(c *Config) { c.RedisURL = "" },
		"unknown sender":    func(c *Config) { c.Sender = "sms" },
		"webpush no keys":   func(c *Config) { c.Sender = "webpush" },
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
