// Command ratelimit is the rate-limiting service: Envoy's gRPC Rate Limit Service v3 and an
// HTTP/JSON API in front of one decision engine, with rules from envoy-ratelimit YAML (hot
// reloaded) and limits counted in memory (the embedded default) or in Redis (REDIS_URL), shared
// by every replica.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"slices"
	"time"

	rlv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/defaults"
	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/api"
	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/approx"
	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/limit"
	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/memstore"
	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/redisstore"
	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/rules"
	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/service"
	"github.com/hyperscaledesignhub/DesignSystems/shared/boot"
	"github.com/hyperscaledesignhub/DesignSystems/shared/httpx"
	"github.com/hyperscaledesignhub/DesignSystems/shared/telemetry"
)

// defaultGOGC is the GC target when GOGC is not set (see run).
const defaultGOGC = 400

var version = "dev" // set with -ldflags "-X main.version=..."

// Config is every setting, from the environment; the defaults run with no external service.
type Config struct {
	HTTPAddr        string        `env:"HTTP_ADDR" envDefault:":8100"`
	GRPCAddr        string        `env:"GRPC_ADDR" envDefault:":8101"`
	RulesPath       string        `env:"RULES_PATH"`                          // file or directory; empty: the built-in rules
	RedisURL        string        `env:"REDIS_URL"`                           // empty: in-memory store
	RedisTimeout    time.Duration `env:"REDIS_TIMEOUT" envDefault:"50ms"`     // from the moment a pipeline is written
	RedisQueueLimit int           `env:"REDIS_QUEUE_LIMIT" envDefault:"4096"` // requests waiting for a pipeline; beyond: RESOURCE_EXHAUSTED / 503
	// DefaultFailureMode is for rules that name no failure_mode; "error" answers like envoy
	// ratelimit (an error, so Envoy's failure_mode_deny decides).
	DefaultFailureMode string        `env:"DEFAULT_FAILURE_MODE" envDefault:"open"`
	Replicas           int           `env:"REPLICAS" envDefault:"1"`
	BreakerThreshold   int           `env:"BREAKER_THRESHOLD" envDefault:"5"`
	BreakerCooldown    time.Duration `env:"BREAKER_COOLDOWN" envDefault:"250ms"`
	LocalCache         bool          `env:"LOCAL_CACHE" envDefault:"true"`
	ApproxFlush        time.Duration `env:"APPROX_FLUSH" envDefault:"0s"`         // > 0: approximate fixed windows, synced this often
	MemoryMaxKeys      int           `env:"MEMORY_MAX_KEYS" envDefault:"1000000"` // in-memory store's key cap (ADR 0007); 0: none
	ShutdownTimeout    time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"20s"`
	TrustedProxies     []string      `env:"TRUSTED_PROXIES"`
}

// Validate checks what the types cannot.
func (c *Config) Validate() error {
	switch {
	case c.Replicas < 1:
		return errors.New("REPLICAS must be at least 1")
	case c.RedisTimeout <= 0:
		return errors.New("REDIS_TIMEOUT must be positive")
	case c.RedisQueueLimit < 1:
		return errors.New("REDIS_QUEUE_LIMIT must be at least 1")
	case !slices.Contains(rules.FailureModes, rules.FailureMode(c.DefaultFailureMode)):
		return fmt.Errorf("DEFAULT_FAILURE_MODE %q: want one of %v", c.DefaultFailureMode, rules.FailureModes)
	case c.MemoryMaxKeys < 0:
		return errors.New("MEMORY_MAX_KEYS must not be negative (0 turns the cap off)")
	}
	return nil
}

func main() { boot.Main("ratelimit", version, "rate-limiter/README.md", run) }

func run(ctx context.Context, s *boot.Service[Config]) error {
	cfg, logger, tel := s.Config, s.Logger, s.Telemetry
	if os.Getenv("GOGC") == "" {
		// A decision allocates a few KB and keeps none of it, so at Go's default (GOGC=100) the
		// small heap is collected dozens of times a second. 400 costs a few MB of heap and saves
		// ~20% of the CPU per decision (README, Benchmarks). GOGC, when set, wins; in Kubernetes
		// GOMEMLIMIT (from the memory limit) still makes the GC work harder before an OOM.
		debug.SetGCPercent(defaultGOGC)
		logger.Info("garbage collector target set", "GOGC", defaultGOGC, "override", "GOGC")
	}

	src, err := loadRules(cfg.RulesPath, logger, tel)
	if err != nil {
		return err
	}
	store, shared, redisClient, err := openStore(ctx, cfg, logger, tel.Registry)
	if err != nil {
		return err
	}
	defer store.Close()
	engine, err := service.New(service.Options{
		Store: store, Shared: shared, Rules: src.Set, Replicas: cfg.Replicas, DefaultFailureMode: rules.FailureMode(cfg.DefaultFailureMode),
		Local:            memstore.New(limit.SystemClock{}, memstore.WithMaxKeys(cfg.MemoryMaxKeys)),
		BreakerThreshold: cfg.BreakerThreshold, BreakerCooldown: cfg.BreakerCooldown, DisableCache: !cfg.LocalCache,
		Registry: tel.Registry, Logger: logger,
	})
	if err != nil {
		return err
	}
	defer engine.Close()
	if err := registerMemoryMetrics(tel, store, shared, engine); err != nil {
		return err
	}

	m, err := api.NewMetrics(tel.Registry)
	if err != nil {
		return err
	}
	srv, err := httpx.New(httpx.Options{Addr: cfg.HTTPAddr, Logger: logger, Telemetry: tel,
		ShutdownTimeout: cfg.ShutdownTimeout, TrustedProxies: cfg.TrustedProxies})
	if err != nil {
		return err
	}
	if redisClient != nil {
		srv.AddCheck("redis", time.Second, func(ctx context.Context) error { return redisClient.Ping(ctx).Err() })
	}
	(&api.HTTP{Engine: engine, Rules: src, Metrics: m, Logger: logger}).Routes(srv.Router())

	gopts := api.ServerOptions()
	if telemetry.TracingEnabled() {
		// Spans for every RPC, continuing Envoy's trace context (W3C headers in gRPC metadata).
		// Only with an exporter: even with a no-op provider the handler costs ~15 µs of CPU per
		// decision (measured with rlbench), a tenth of the whole decision.
		gopts = append(gopts, grpc.StatsHandler(otelgrpc.NewServerHandler(
			otelgrpc.WithTracerProvider(tel.Tracers), otelgrpc.WithPropagators(tel.Propagator))))
	}
	gs := grpc.NewServer(gopts...)
	rlv3.RegisterRateLimitServiceServer(gs, &api.RLS{Engine: engine, Metrics: m})
	hs := health.NewServer()
	healthpb.RegisterHealthServer(gs, hs)
	ln, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.GRPCAddr, err)
	}

	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Run(ctx) })
	g.Go(func() error {
		logger.Info("grpc server listening", "addr", ln.Addr().String())
		return gs.Serve(ln)
	})
	g.Go(func() error { // gRPC drains after the HTTP server starts draining, with the same grace
		<-ctx.Done()
		hs.Shutdown() // health reports NOT_SERVING first, like /readyz
		done := make(chan struct{})
		go func() { gs.GracefulStop(); close(done) }()
		select {
		case <-done:
		case <-time.After(cfg.ShutdownTimeout):
			gs.Stop()
		}
		return nil
	})
	if r, ok := src.(*rules.Reloader); ok {
		g.Go(func() error { return r.Run(ctx) })
	}
	if err := g.Wait(); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return err
	}
	logger.Info("stopped")
	return nil
}

// loadRules returns the hot-reloading rules at path, or the built-in rules when path is empty.
func loadRules(path string, logger *slog.Logger, tel *telemetry.Telemetry) (api.RuleSource, error) {
	if path == "" {
		set, err := rules.ParseFS(defaults.Rules, "rules")
		if err != nil {
			return nil, fmt.Errorf("built-in rules: %w", err)
		}
		logger.Info("rules: built-in (domains demo, proxy); set RULES_PATH to a file or directory to use your own")
		return rules.Static(set, "built-in"), nil
	}
	reloads := newReloadCounter(tel)
	return rules.NewReloader(path, rules.Options{Logger: logger, OnChange: func(*rules.Set) { reloads.ok() }, OnError: func(error) { reloads.failed() }})
}

// registerMemoryMetrics exports the key counts of the in-memory stores in use: the store itself
// in memory mode, or failure_mode local's store behind Redis.
func registerMemoryMetrics(tel *telemetry.Telemetry, store limit.Store, shared bool, engine *service.Engine) error {
	if ms, ok := store.(*memstore.Store); ok {
		return ms.Register(tel.Registry, "memory")
	}
	if shared {
		return engine.LocalStore().Register(tel.Registry, "local")
	}
	return nil
}

// openStore returns the Redis store when REDIS_URL is set, else the in-memory one.
func openStore(ctx context.Context, cfg Config, logger *slog.Logger, reg prometheus.Registerer) (limit.Store, bool, *redis.Client, error) {
	if cfg.RedisURL == "" {
		logger.Info("store: in-memory (limits are per process); set REDIS_URL to share them across replicas", "max_keys", cfg.MemoryMaxKeys)
		return memstore.New(limit.SystemClock{}, memstore.WithMaxKeys(cfg.MemoryMaxKeys)), false, nil, nil
	}
	opts, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return nil, false, nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	opts.ContextTimeoutEnabled = true // a stalled Redis must not hold the pipelines past REDIS_TIMEOUT
	client := redis.NewClient(opts)
	exact := redisstore.New(client, redisstore.Options{Timeout: cfg.RedisTimeout, QueueLimit: cfg.RedisQueueLimit})
	for _, c := range exact.Collectors() {
		if err := reg.Register(c); err != nil {
			_ = exact.Close()
			_ = client.Close()
			return nil, false, nil, fmt.Errorf("register redis store metrics: %w", err)
		}
	}
	var store limit.Store = exact
	if cfg.ApproxFlush > 0 {
		store = approx.New(exact, client, approx.Options{Flush: cfg.ApproxFlush, Logger: logger}) // its Close closes exact too
		logger.Warn("approximate mode: fixed windows decided locally and synced every APPROX_FLUSH; replicas may over-admit near a limit", "flush", cfg.ApproxFlush.String())
	}
	lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := exact.Load(lctx); err != nil {
		// Not fatal: the failure modes cover a Redis that is down, and /readyz says so.
		logger.Warn("redis not reachable at start; rules' failure modes apply until it is", "addr", opts.Addr, "err", err)
	}
	logger.Info("store: redis", "addr", opts.Addr)
	return store, true, client, nil
}
