// Command chat-api is chat-app's HTTP API: signup and login (bearer tokens the WebSocket gateway
// also accepts), contacts, conversations and members, history, and sending over HTTP. It keeps
// its data in PostgreSQL (DATABASE_URL, migrated at start) or, by default, in memory.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/api"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/auth"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/chat"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/gateway"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/memstore"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/pgstore"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/redisbus"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/snowflake"
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
	RedisURL string `env:"REDIS_URL"`
	// JWTSecret signs tokens (HS256, at least 32 bytes); the gateway needs the same one.
	// Required with DATABASE_URL; empty in the embedded default: a random one per start.
	JWTSecret       string        `env:"JWT_SECRET"`
	TokenTTL        time.Duration `env:"TOKEN_TTL" envDefault:"24h"`
	NodeID          int           `env:"NODE_ID" envDefault:"0"`           // snowflake node, unique per replica
	LoginPerMinute  float64       `env:"LOGIN_PER_MINUTE" envDefault:"30"` // per client IP; 0 disables
	LoginBurst      int           `env:"LOGIN_BURST" envDefault:"10"`
	TrustedProxies  []string      `env:"TRUSTED_PROXIES"` // CIDRs whose X-Forwarded-For names the client
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"20s"`
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
	ids, err := snowflake.New(cfg.NodeID, nil)
	if err != nil {
		return err
	}
	secret := []byte(cfg.JWTSecret)
	if len(secret) == 0 {
		secret = make([]byte, 32)
		_, _ = rand.Read(secret)
		logger.Warn("JWT_SECRET not set: using a random secret; tokens do not survive a restart and the gateway cannot verify them")
	}
	tokens, err := auth.NewTokens(secret, cfg.TokenTTL, nil)
	if err != nil {
		return err
	}

	srv, err := httpx.New(httpx.Options{Addr: cfg.HTTPAddr, Logger: logger, Telemetry: s.Telemetry,
		ShutdownTimeout: cfg.ShutdownTimeout, TrustedProxies: cfg.TrustedProxies})
	if err != nil {
		return err
	}
	var store chat.Store
	if cfg.DatabaseURL == "" {
		logger.Info("store: in-memory (lost on exit); set DATABASE_URL to keep data in PostgreSQL")
		store = memstore.New(ids)
	} else {
		pool, err := openPostgres(ctx, cfg.DatabaseURL, logger.Info)
		if err != nil {
			return err
		}
		defer pool.Close() // after the server has drained
		srv.AddCheck("postgres", time.Second, pool.Ping)
		store = pgstore.New(pool, ids)
	}

	var publisher api.Publisher
	if cfg.RedisURL == "" {
		logger.Info("live feed: off (messages sent over HTTP reach clients on their next sync); set REDIS_URL to publish them to the gateways")
	} else {
		opt, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			return fmt.Errorf("REDIS_URL: %w", err)
		}
		rdb := redis.NewClient(opt)
		defer rdb.Close()
		bus, err := redisbus.New(rdb, redisbus.Options{Logger: logger})
		if err != nil {
			return err
		}
		defer bus.Close()
		srv.AddCheck("redis", time.Second, func(ctx context.Context) error { return rdb.Ping(ctx).Err() })
		publisher = gateway.Publisher{Bus: bus}
		logger.Info("live feed: redis", "addr", opt.Addr)
	}

	perMinute := cfg.LoginPerMinute
	if perMinute == 0 {
		perMinute = -1 // api.Options: negative disables
	}
	a, err := api.New(api.Options{Store: store, Tokens: tokens, Logger: logger, Publisher: publisher,
		LoginPerMinute: perMinute, LoginBurst: cfg.LoginBurst})
	if err != nil {
		return err
	}
	a.Routes(srv.Router())
	if err := srv.Run(ctx); err != nil {
		return err
	}
	logger.Info("stopped")
	return nil
}

// openPostgres connects and applies the migrations (safe when several replicas start at once).
func openPostgres(ctx context.Context, url string, info func(string, ...any)) (*pgxpool.Pool, error) {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	mctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	applied, err := pgstore.Migrate(mctx, pool)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("migrate: %w", err)
	}
	info("store: postgres", "host", pool.Config().ConnConfig.Host, "database", pool.Config().ConnConfig.Database, "migrations_applied", applied)
	return pool, nil
}
