// Command chat-gateway is chat-app's WebSocket gateway (docs/protocol.md) at /ws and /v1/ws:
// it authenticates sessions with the API's bearer tokens, streams every conversation exactly
// once and in order across reconnects, and fans messages out between replicas through Redis
// pub/sub (REDIS_URL) or, by default, in memory.
package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/app"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/auth"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/snowflake"
	"github.com/hyperscaledesignhub/DesignSystems/shared/boot"
	"github.com/hyperscaledesignhub/DesignSystems/shared/httpx"
)

var version = "dev" // set with -ldflags "-X main.version=..."

// Config is every setting, from the environment; the defaults run with no external service.
type Config struct {
	Addr        string `env:"GATEWAY_ADDR" envDefault:":8601"`
	DatabaseURL string `env:"DATABASE_URL"` // empty: in-memory store (only useful with the API in the same process)
	RedisURL    string `env:"REDIS_URL"`    // empty: in-memory bus and presence (one replica)
	KeyPrefix   string `env:"KEY_PREFIX"`   // before every Redis key and channel; the same for every process (and chat-notifier)
	// JWTSecret verifies the API's tokens (HS256, the same secret as chat-api, at least 32 bytes).
	JWTSecret       string        `env:"JWT_SECRET"`
	AllowedOrigins  []string      `env:"ALLOWED_ORIGINS"` // browser origin host patterns, e.g. chat.example.com
	NodeID          int           `env:"NODE_ID" envDefault:"0"`
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"20s"`
}

// Validate checks what the types cannot.
func (c *Config) Validate() error {
	switch {
	case c.DatabaseURL != "" && c.JWTSecret == "":
		return errors.New("JWT_SECRET is required with DATABASE_URL: the same secret as chat-api, at least 32 bytes")
	case c.JWTSecret != "" && len(c.JWTSecret) < auth.MinSecretBytes:
		return fmt.Errorf("JWT_SECRET must be at least %d bytes", auth.MinSecretBytes)
	case c.NodeID < 0 || c.NodeID > snowflake.MaxNode:
		return fmt.Errorf("NODE_ID must be in 0..%d", snowflake.MaxNode)
	}
	return nil
}

func main() { boot.Main("chat-gateway", version, "chat-app/README.md", run) }

func run(ctx context.Context, s *boot.Service[Config]) error {
	cfg, logger := s.Config, s.Logger
	secret, random := app.Secret(cfg.JWTSecret)
	if random {
		logger.Warn("JWT_SECRET not set: using a random secret; no token issued by chat-api verifies here")
	}
	a, err := app.New(ctx, app.Options{Gateway: true, DatabaseURL: cfg.DatabaseURL, RedisURL: cfg.RedisURL, KeyPrefix: cfg.KeyPrefix,
		Secret: secret, TokenTTL: time.Hour, // the ttl only matters for Issue
		NodeID: cfg.NodeID, AllowedOrigins: cfg.AllowedOrigins, Logger: logger, Registerer: s.Telemetry.Registry})
	if err != nil {
		return err
	}
	defer a.Close()
	srv, err := httpx.New(httpx.Options{Addr: cfg.Addr, Logger: logger, Telemetry: s.Telemetry,
		ShutdownTimeout: cfg.ShutdownTimeout})
	if err != nil {
		return err
	}
	if err := a.Serve(ctx, srv, cfg.ShutdownTimeout); err != nil {
		return err
	}
	logger.Info("stopped")
	return nil
}
