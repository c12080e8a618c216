// Command chat-gateway is chat-app's WebSocket gateway (docs/protocol.md) at /ws and /v1/ws:
// it authenticates sessions with the API's bearer tokens, streams every conversation exactly
// once and in order across reconnects, and fans messages out between replicas through Redis
// pub/sub (REDIS_URL) or, by default, in memory.
package main

import (
	"context"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/app"
	"github.com/hyperscaledesignhub/DesignSystems/shared/boot"
	"github.com/hyperscaledesignhub/DesignSystems/shared/httpx"
)

var version = "dev" // set with -ldflags "-X main.version=..."

// Config is every setting, from the environment. DATABASE_URL empty (an in-memory store) is
// only useful with the API in the same process: run chat for that.
type Config struct {
	Addr string `env:"GATEWAY_ADDR" envDefault:":8601"`
	app.Common
	app.GatewayConfig
}

// Validate checks what the types cannot.
func (c *Config) Validate() error {
	if err := c.Common.Check(true); err != nil {
		return err
	}
	return c.GatewayConfig.Check()
}

func main() { boot.Main("chat-gateway", version, "chat-app/README.md", run) }

func run(ctx context.Context, s *boot.Service[Config]) error {
	cfg, logger := s.Config, s.Logger
	secret, random := app.Secret(cfg.JWTSecret)
	if random {
		logger.Warn("JWT_SECRET not set: using a random secret; no token issued by chat-api verifies here")
	}
	o := cfg.Common.Options(secret)
	cfg.GatewayConfig.Apply(&o)
	o.Logger, o.Registerer = logger, s.Telemetry.Registry
	a, err := app.New(ctx, o)
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
