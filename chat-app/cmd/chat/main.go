// Command chat is chat-app in one process, the embedded default: the HTTP API, the WebSocket
// gateway (/ws) and the web client (/) on one port, with the store, fan-out bus and
// presence in memory unless DATABASE_URL / REDIS_URL point at PostgreSQL and Redis.
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
	RedisURL    string `env:"REDIS_URL"`    // empty: in-memory bus and presence
	KeyPrefix   string `env:"KEY_PREFIX"`   // before every Redis key and channel; the same for every process (and chat-notifier)
	// JWTSecret signs tokens (HS256, at least 32 bytes). Empty: a random one per start, so
	// tokens do not survive a restart.
	JWTSecret       string        `env:"JWT_SECRET"`
	TokenTTL        time.Duration `env:"TOKEN_TTL" envDefault:"24h"`
	NodeID          int           `env:"NODE_ID" envDefault:"0"`           // snowflake node, unique per replica
	LoginPerMinute  float64       `env:"LOGIN_PER_MINUTE" envDefault:"30"` // per client IP; 0 disables
	LoginBurst      int           `env:"LOGIN_BURST" envDefault:"10"`
	SendRate        float64       `env:"SEND_RATE" envDefault:"10"` // WebSocket sends per second per user
	SendBurst       int           `env:"SEND_BURST" envDefault:"30"`
	TrustedProxies  []string      `env:"TRUSTED_PROXIES"` // CIDRs whose X-Forwarded-For names the client
	AllowedOrigins  []string      `env:"ALLOWED_ORIGINS"` // other browser origins allowed on /ws (same origin always is)
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
	case c.JWTSecret != "" && len(c.JWTSecret) < auth.MinSecretBytes:
		return fmt.Errorf("JWT_SECRET must be at least %d bytes", auth.MinSecretBytes)
	case c.TokenTTL < time.Minute:
		return errors.New("TOKEN_TTL must be at least 1m")
	case c.NodeID < 0 || c.NodeID > snowflake.MaxNode:
		return fmt.Errorf("NODE_ID must be in 0..%d", snowflake.MaxNode)
	case c.LoginPerMinute < 0 || c.LoginBurst < 1:
		return errors.New("LOGIN_PER_MINUTE must be >= 0 and LOGIN_BURST >= 1")
	case c.SendRate <= 0 || c.SendBurst < 1:
		return errors.New("SEND_RATE must be > 0 and SEND_BURST >= 1")
	}
	return nil
}

func main() { boot.Main("chat", version, "chat-app/README.md", run) }

func run(ctx context.Context, s *boot.Service[Config]) error {
	cfg, logger := s.Config, s.Logger
	secret, random := app.Secret(cfg.JWTSecret)
	if random {
		logger.Warn("JWT_SECRET not set: using a random secret; every token is invalid after a restart; set JWT_SECRET (32+ bytes) to keep sessions")
	}
	perMinute := cfg.LoginPerMinute
	if perMinute == 0 {
		perMinute = -1 // api.Options: negative disables
	}
	a, err := app.New(ctx, app.Options{API: true, Gateway: true, DatabaseURL: cfg.DatabaseURL, Migrate: true,
		RedisURL: cfg.RedisURL, KeyPrefix: cfg.KeyPrefix, Secret: secret, TokenTTL: cfg.TokenTTL, NodeID: cfg.NodeID,
		LoginPerMinute: perMinute, LoginBurst: cfg.LoginBurst, SendRate: cfg.SendRate, SendBurst: cfg.SendBurst,
		VAPIDPublicKey: cfg.VAPIDPublicKey, PushHosts: cfg.PushHosts,
		AllowedOrigins: cfg.AllowedOrigins, Web: web.Handler(web.Options{}), // empty WSURL: the page's own origin, /ws
		Logger: logger, Registerer: s.Telemetry.Registry})
	if err != nil {
		return err
	}
	defer a.Close() // after the server drained and the sockets closed
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
