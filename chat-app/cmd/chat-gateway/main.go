// Command chat-gateway is chat-app's WebSocket gateway (docs/protocol.md) at /ws and /v1/ws:
// it authenticates sessions with the API's bearer tokens, streams every conversation exactly
// once and in order across reconnects, and fans messages out between replicas through Redis
// pub/sub (REDIS_URL) or, by default, in memory.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/auth"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/chat"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/fanout"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/gateway"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/memstore"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/pgstore"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/presence"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/redisbus"
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

// verifier adapts auth.Tokens to gateway.Verifier: an expired token becomes
// gateway.ErrTokenExpired, so the client gets token_expired rather than auth_failed.
type verifier struct{ t *auth.Tokens }

func (v verifier) Verify(token string) (int64, time.Time, error) {
	user, exp, err := v.t.Verify(token)
	if errors.Is(err, auth.ErrExpired) {
		return 0, time.Time{}, fmt.Errorf("%w: %w", gateway.ErrTokenExpired, err)
	}
	return user, exp, err
}

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
		logger.Warn("JWT_SECRET not set: using a random secret; no token issued by chat-api verifies here")
	}
	tokens, err := auth.NewTokens(secret, time.Hour, nil) // the ttl only matters for Issue
	if err != nil {
		return err
	}

	srv, err := httpx.New(httpx.Options{Addr: cfg.Addr, Logger: logger, Telemetry: s.Telemetry,
		ShutdownTimeout: cfg.ShutdownTimeout})
	if err != nil {
		return err
	}
	var store chat.Store
	if cfg.DatabaseURL == "" {
		logger.Warn("store: in-memory; a standalone gateway shares no data with chat-api — run both in one process or set DATABASE_URL")
		store = memstore.New(ids)
	} else {
		pool, err := pgxpool.New(ctx, cfg.DatabaseURL)
		if err != nil {
			return fmt.Errorf("DATABASE_URL: %w", err)
		}
		defer pool.Close() // the API service owns the migrations
		srv.AddCheck("postgres", time.Second, pool.Ping)
		store = pgstore.New(pool, ids)
		logger.Info("store: postgres", "host", pool.Config().ConnConfig.Host)
	}

	var bus fanout.Bus
	var tracker presence.Tracker
	var rdb *redis.Client
	closers := []func() error{}
	defer func() {
		for i := len(closers) - 1; i >= 0; i-- {
			if err := closers[i](); err != nil {
				logger.Warn("close", "err", err)
			}
		}
	}()
	if cfg.RedisURL == "" {
		logger.Info("bus: in-memory (one replica); set REDIS_URL to fan out between replicas")
		mem := fanout.NewMemory()
		bus = mem
		closers = append(closers, mem.Close)
	} else {
		opt, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			return fmt.Errorf("REDIS_URL: %w", err)
		}
		rdb = redis.NewClient(opt)
		closers = append(closers, rdb.Close)
		rb, err := redisbus.New(rdb, redisbus.Options{Logger: logger})
		if err != nil {
			return err
		}
		bus = rb
		closers = append(closers, rb.Close)
		srv.AddCheck("redis", time.Second, func(ctx context.Context) error { return rdb.Ping(ctx).Err() })
		logger.Info("bus: redis", "addr", opt.Addr)
	}
	notify := gateway.PresenceNotifier(store, bus, logger)
	if cfg.RedisURL == "" {
		mt := presence.NewMemory(presence.Options{Notify: notify})
		tracker = mt
		closers = append(closers, mt.Close)
	} else {
		rt, err := presence.NewRedis(rdb, "chat:presence:", presence.Options{Notify: notify})
		if err != nil {
			return err
		}
		tracker = rt
		closers = append(closers, rt.Close)
	}

	gw, err := gateway.New(gateway.Options{Store: store, Bus: bus, Verifier: verifier{tokens}, Presence: tracker,
		Logger: logger.With("component", "gateway"), Registerer: s.Telemetry.Registry, AllowedOrigins: cfg.AllowedOrigins})
	if err != nil {
		return err
	}
	srv.Router().Handle("/ws", gw)
	srv.Router().Handle("/v1/ws", gw)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Run(gctx) })
	g.Go(func() error {
		<-gctx.Done()
		// Hijacked WebSockets are not drained by the HTTP server: close them (1001) ourselves.
		sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		return gw.Shutdown(sctx)
	})
	if err := g.Wait(); err != nil {
		return err
	}
	logger.Info("stopped")
	return nil
}
