package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/api"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/apitest"
	"github.com/hyperscaledesignhub/DesignSystems/shared/boot"
	"github.com/hyperscaledesignhub/DesignSystems/shared/config"
	"github.com/hyperscaledesignhub/DesignSystems/shared/telemetry"
	"github.com/hyperscaledesignhub/DesignSystems/shared/testkit"
)

const secret = "0123456789abcdef0123456789abcdef"

func TestConfigValidation(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		want string // "" = valid
	}{
		{map[string]string{}, ""},
		{map[string]string{"DATABASE_URL": "postgres://x/y"}, "JWT_SECRET is required"},
		{map[string]string{"DATABASE_URL": "postgres://x/y", "JWT_SECRET": secret}, ""},
		{map[string]string{"JWT_SECRET": "short"}, "at least 32"},
		{map[string]string{"NODE_ID": "1024"}, "NODE_ID"},
		{map[string]string{"NODE_ID": "-1"}, "NODE_ID"},
		{map[string]string{"TOKEN_TTL": "10s"}, "TOKEN_TTL"},
	} {
		cfg, err := config.LoadFrom[Config](c.env)
		if c.want == "" {
			require.NoError(t, err, "%v", c.env)
			assert.Equal(t, ":8600", cfg.HTTPAddr)
			assert.Equal(t, 24*time.Hour, cfg.TokenTTL)
		} else {
			assert.ErrorContains(t, err, c.want, "%v", c.env)
		}
	}
}

// start runs the service as main does, on a free loopback port, until the test ends; it returns
// the base URL once /readyz is green, and a function that stops it and returns run's error.
func start(t *testing.T, env map[string]string) (string, func() error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	env["HTTP_ADDR"] = addr
	cfg, err := config.LoadFrom[Config](env)
	require.NoError(t, err)
	tel, err := telemetry.New(t.Context(), telemetry.Options{})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, &boot.Service[Config]{Name: "chat-api", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Config: cfg, Telemetry: tel})
	}()
	stop := sync.OnceValue(func() error { cancel(); return <-done })
	t.Cleanup(func() { _ = stop() })
	base := "http://" + addr
	require.Eventually(t, func() bool {
		res, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	}, 20*time.Second, 20*time.Millisecond)
	return base, stop
}

// signup signs alice up and uses her token, so the service stores users and verifies its tokens.
func signup(t *testing.T, base string) {
	t.Helper()
	var ar api.AuthResponse
	apitest.Call(t, http.MethodPost, base+"/v1/signup", "", api.SignupRequest{Username: "alice", DisplayName: "Alice", Password: "correct horse"},
		&ar, http.StatusCreated)
	apitest.Call(t, http.MethodGet, base+"/v1/me", ar.Token, nil, nil, http.StatusOK)
}

func TestRunInMemory(t *testing.T) {
	base, stop := start(t, map[string]string{})
	signup(t, base)
	res, err := http.Get(base + "/")
	require.NoError(t, err)
	page, err := io.ReadAll(res.Body)
	res.Body.Close()
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Contains(t, string(page), "<html", "the API serves the web client at /")
	require.NoError(t, stop(), "a signal drains and returns nil")
}

func TestRunOnPostgres(t *testing.T) {
	db := testkit.Postgres(t)
	base, stop := start(t, map[string]string{"DATABASE_URL": db.URL, "JWT_SECRET": secret})
	res, err := http.Get(base + "/readyz")
	require.NoError(t, err)
	var ready struct{ Checks map[string]string }
	require.NoError(t, json.NewDecoder(res.Body).Decode(&ready))
	res.Body.Close()
	assert.Equal(t, "ok", ready.Checks["postgres"], "readiness checks the database")
	signup(t, base)
	var n int
	require.NoError(t, db.Pool.QueryRow(t.Context(), "SELECT count(*) FROM users").Scan(&n))
	assert.Equal(t, 1, n, "migrated at start and stored in PostgreSQL")
	require.NoError(t, stop())
}
