// Command chat-api is chat-app's HTTP API: signup and login (bearer tokens the WebSocket gateway
// also accepts), contacts, conversations and members, history, and sending over HTTP. It keeps
// its data in PostgreSQL (DATABASE_URL, migrated at start) or, by default, in memory.
package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/app"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/auth"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/snowflake"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/web"
	"github.com/hyperscaledesignhub/DesignSystems/shared/boot"
	"github.com/hyperscaledesignhub/DesignSystems/shared/httpx"
)

var version = "dev" // set with -ldflags "-X main.version=..."

// Config is every setting, from the environment; the defaults run with no external service.
type Config struct {
	HTTPAddr    string `env:"HTTP_ADDR" envDefault:":8600"`
	DatabaseURL string `env:"DATABASE_URL"` // empty: in-memory store
	// RedisURL is the gateways' fan-out bus: a message sent over HTTP is published there, so
	// connected clients get it at once. Empty: not published (clients get it on their next sync).
	RedisURL  string `env:"REDIS_URL"`
	KeyPrefix string `env:"KEY_PREFIX"` // before every Redis key and channel; the same for every process (and chat-notifier)
	// JWTSecret signs tokens (HS256, at least 32 bytes); the gateway needs the same one.
	// Required with DATABASE_URL; empty in the embedded default: a random one per start.
	JWTSecret       string        `env:"JWT_SECRET"`
	TokenTTL        time.Duration `env:"TOKEN_TTL" envDefault:"24h"`
	NodeID          int           `env:"NODE_ID" envDefault:"0"`           // snowflake node, unique per replica
	LoginPerMinute  float64       `env:"LOGIN_PER_MINUTE" envDefault:"30"` // per client IP; 0 disables
	LoginBurst      int           `env:"LOGIN_BURST" envDefault:"10"`
	TrustedProxies  []string      `env:"TRUSTED_PROXIES"` // CIDRs whose X-Forwarded-For names the client
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"20s"`

	// VAPIDPublicKey is the Web Push application server key (base64url) browsers subscribe with
	// (GET /v1/push/key): chat-notifier's VAPID_PUBLIC_KEY, next to its private key. Empty: push is off.
	VAPIDPublicKey string `env:"VAPID_PUBLIC_KEY"`
	// PushHosts are the push services a browser's subscription may point at (host names, or
	// "*.domain"); empty: FCM, Mozilla, Apple and Windows (chat.DefaultPushHosts).
	PushHosts []string `env:"PUSH_HOSTS"`
}

// Validate checks what the types cannot.
func (c *Config) Validate() error {
	switch {
	case c.DatabaseURL != "" && c.JWTSecret == "":
		return errors.New("JWT_SECRET is required with DATABASE_URL (at least 32 bytes, the same for every API replica and gateway), so tokens survive restarts")
	case c.JWTSecret != "" && len(c.JWTSecret) < auth.MinSecretBytes:
		return fmt.Errorf("JWT_SECRET must be at least %d bytes", auth.MinSecretBytes)
	case c.TokenTTL < time.Minute:
		return errors.New("TOKEN_TTL must be at least 1m")
	case c.NodeID < 0 || c.NodeID > snowflake.MaxNode:
		return fmt.Errorf("NODE_ID must be in 0..%d", snowflake.MaxNode)
	case c.LoginPerMinute < 0 || c.LoginBurst < 1:
		return errors.New("LOGIN_PER_MINUTE must be >= 0 and LOGIN_BURST >= 1")
	}
	return nil
}

func main() { boot.Main("chat-api", version, "chat-app/README.md", run) }

func run(ctx context.Context, s *boot.Service[Config]) error {
	cfg, logger := s.Config, s.Logger
	secret, random := app.Secret(cfg.JWTSecret)
	if random {
		logger.Warn("JWT_SECRET not set: using a random secret; tokens do not survive a restart and the gateway cannot verify them")
	}
	perMinute := cfg.LoginPerMinute
	if perMinute == 0 {
		perMinute = -1 // api.Options: negative disables
	}
	a, err := app.New(ctx, app.Options{API: true, DatabaseURL: cfg.DatabaseURL, Migrate: true, RedisURL: cfg.RedisURL,
		KeyPrefix: cfg.KeyPrefix, Secret: secret, TokenTTL: cfg.TokenTTL, NodeID: cfg.NodeID, LoginPerMinute: perMinute, LoginBurst: cfg.LoginBurst,
		VAPIDPublicKey: cfg.VAPIDPublicKey, PushHosts: cfg.PushHosts, Logger: logger, Registerer: s.Telemetry.Registry,
		// The web client at /; its WebSocket is /ws on the same origin, which the load balancer
		// routes to the gateways (level-0 nginx, level-1/2 routes).
		Web: web.Handler(web.Options{})})
	if err != nil {
		return err
	}
	defer a.Close() // after the server has drained
	srv, err := httpx.New(httpx.Options{Addr: cfg.HTTPAddr, Logger: logger, Telemetry: s.Telemetry,
		ShutdownTimeout: cfg.ShutdownTimeout, TrustedProxies: cfg.TrustedProxies})
	if err != nil {
		return err
	}
	if err := a.Serve(ctx, srv, cfg.ShutdownTimeout); err != nil {
		return err
	}
	logger.Info("stopped")
	return nil
}
