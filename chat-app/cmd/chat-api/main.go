// Command chat-api is chat-app's HTTP API: signup and login (bearer tokens the WebSocket gateway
// also accepts), contacts, conversations and members, history, and sending over HTTP. It keeps
// its data in PostgreSQL (DATABASE_URL, migrated at start) or, by default, in memory.
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
// REDIS_URL is the gateways' fan-out bus here: a message sent over HTTP is published there, so
// connected clients get it at once; empty: not published (clients get it on their next sync).
type Config struct {
	HTTPAddr string `env:"HTTP_ADDR" envDefault:":8600"`
	app.Common
	app.APIConfig
}

// Validate checks what the types cannot.
func (c *Config) Validate() error {
	if err := c.Common.Check(true); err != nil {
		return err
	}
	return c.APIConfig.Check()
}

func main() { boot.Main("chat-api", version, "chat-app/README.md", run) }

func run(ctx context.Context, s *boot.Service[Config]) error {
	cfg, logger := s.Config, s.Logger
	secret, random := app.Secret(cfg.JWTSecret)
	if random {
		logger.Warn("JWT_SECRET not set: using a random secret; tokens do not survive a restart and the gateway cannot verify them")
	}
	o := cfg.Common.Options(secret)
	cfg.APIConfig.Apply(&o)
	// The web client at /; its WebSocket is /ws on the same origin, which the load balancer
	// routes to the gateways (level-0 nginx, level-1/2 routes).
	o.Web = web.Handler(web.Options{})
	o.Logger, o.Registerer = logger, s.Telemetry.Registry
	a, err := app.New(ctx, o)
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
