// Command chat is chat-app in one process, the embedded default: the HTTP API, the WebSocket
// gateway (/ws) and the web client (/) on one port, with the store, fan-out bus and
// presence in memory unless DATABASE_URL / REDIS_URL point at PostgreSQL and Redis.
package main

import (
	"context"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/app"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/web"
	"github.com/hyperscaledesignhub/DesignSystems/shared/boot"
	"github.com/hyperscaledesignhub/DesignSystems/shared/httpx"
)

var version = "dev" // set with -ldflags "-X main.version=..."

// Config is every setting, from the environment; the defaults run with no external service.
type Config struct {
	HTTPAddr string `env:"HTTP_ADDR" envDefault:":8600"`
	app.Common
	app.APIConfig
	app.GatewayConfig
}

// Validate checks what the types cannot. One process signs and verifies its own tokens, so a
// random secret is allowed even with DATABASE_URL (sessions end at a restart; a warning says so).
func (c *Config) Validate() error {
	if err := c.Common.Check(false); err != nil {
		return err
	}
	if err := c.GatewayConfig.Check(); err != nil {
		return err
	}
	return c.APIConfig.Check()
}

func main() { boot.Main("chat", version, "chat-app/README.md", run) }

func run(ctx context.Context, s *boot.Service[Config]) error {
	cfg, logger := s.Config, s.Logger
	secret, random := app.Secret(cfg.JWTSecret)
	if random {
		logger.Warn("JWT_SECRET not set: using a random secret; every token is invalid after a restart; set JWT_SECRET (32+ bytes) to keep sessions")
	}
	o := cfg.Common.Options(secret)
	cfg.APIConfig.Apply(&o)
	cfg.GatewayConfig.Apply(&o)
	o.Web = web.Handler(web.Options{}) // empty WSURL: the page's own origin, /ws
	o.Logger, o.Registerer = logger, s.Telemetry.Registry
	a, err := app.New(ctx, o)
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
