// Package httpx builds the HTTP servers of every service the same way: a chi router behind one
// fixed middleware stack (request ID, real IP, tracing, panic recovery, access log, RED metrics,
// body limit), RFC 9457 problem responses, /healthz, /readyz and /metrics, the four server
// timeouts, and a graceful shutdown on SIGINT/SIGTERM that drains in-flight requests.
package httpx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os/signal"
	"syscall"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/hyperscaledesignhub/DesignSystems/shared/telemetry"
)

// Options configure a Server. Zero durations and sizes take the defaults in brackets.
type Options struct {
	Addr              string               // listen address (":8080")
	Logger            *slog.Logger         // (slog.Default())
	Telemetry         *telemetry.Telemetry // metrics registry and tracer; nil: a private registry, no tracing
	ReadHeaderTimeout time.Duration        // (5s) bounds slow-loris clients
	ReadTimeout       time.Duration        // (30s)
	WriteTimeout      time.Duration        // (30s); streaming handlers extend it with http.ResponseController
	IdleTimeout       time.Duration        // (120s)
	ShutdownTimeout   time.Duration        // (20s) how long in-flight requests may drain
	MaxBodyBytes      int64                // (1 MiB) request bodies above it get 413
	// TrustedProxies are the CIDRs (e.g. "10.0.0.0/8") whose X-Forwarded-For is believed when
	// finding the client IP; empty: the TCP peer is the client.
	TrustedProxies []string
	// NoOpsRoutes leaves /healthz, /readyz and /metrics off this server, for one whose every path
	// belongs to someone else (a reverse proxy); serve them from a second Server instead.
	NoOpsRoutes bool
}

// Server is an http.Server with the stack above. Add routes to Router() before Run.
type Server struct {
	opts   Options
	router chi.Router
	health *health
	srv    *http.Server
	log    *slog.Logger
}

// New builds a server. The middleware order is written here once for every service.
func New(o Options) (*Server, error) {
	if o.Addr == "" {
		o.Addr = ":8080"
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Telemetry == nil {
		tel, err := telemetry.New(context.Background(), telemetry.Options{})
		if err != nil {
			return nil, err
		}
		o.Telemetry = tel
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.ReadHeaderTimeout, 5*time.Second)
	def(&o.ReadTimeout, 30*time.Second)
	def(&o.WriteTimeout, 30*time.Second)
	def(&o.IdleTimeout, 120*time.Second)
	def(&o.ShutdownTimeout, 20*time.Second)
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 1 << 20
	}
	m, err := newMetrics(o.Telemetry.Registry)
	if err != nil {
		return nil, err
	}

	r := chi.NewRouter()
	r.Use(
		requestID,                  // first, so every later line and span carries it
		clientIP(o.TrustedProxies), // before logging, so logs show the client, not the proxy
		tracing(o.Telemetry),       // the span covers everything below
		accessLog(o.Logger, m),     // logs and counts the final status, including recovered panics
		recoverer(o.Logger),        // inside the log: a panic is logged as the 500 it became
		limitBody(o.MaxBodyBytes),  // last: handlers see a bounded body
	)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		WriteProblem(w, r, Problemf(http.StatusNotFound, "no route for %s %s", r.Method, r.URL.Path))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		WriteProblem(w, r, Problemf(http.StatusMethodNotAllowed, "%s is not allowed on %s", r.Method, r.URL.Path))
	})
	h := &health{}
	if !o.NoOpsRoutes {
		r.Get("/healthz", h.live)
		r.Get("/readyz", h.ready)
		r.Method(http.MethodGet, "/metrics", o.Telemetry.Handler())
	}

	s := &Server{opts: o, router: r, health: h, log: o.Logger}
	s.srv = &http.Server{
		Addr:              o.Addr,
		Handler:           r,
		ReadHeaderTimeout: o.ReadHeaderTimeout,
		ReadTimeout:       o.ReadTimeout,
		WriteTimeout:      o.WriteTimeout,
		IdleTimeout:       o.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(o.Logger.Handler(), slog.LevelWarn),
	}
	return s, nil
}

// Router is where the service mounts its routes (one routes.go per service).
func (s *Server) Router() chi.Router { return s.router }

// Handler is the complete handler, for tests that use httptest.
func (s *Server) Handler() http.Handler { return s.router }

// AddCheck registers a readiness check shown on /readyz.
func (s *Server) AddCheck(name string, timeout time.Duration, fn func(ctx context.Context) error) {
	s.health.add(Check{Name: name, Timeout: timeout, Fn: fn})
}

// Run listens on Options.Addr and serves until ctx ends or the process gets SIGINT or SIGTERM,
// then shuts down gracefully. It returns nil after a clean drain.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", s.opts.Addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve is Run on a listener the caller opened (tests listen on 127.0.0.1:0).
//
// Shutdown order: /readyz turns 503 first, then the listener closes and in-flight requests get up
// to ShutdownTimeout to finish; after that the remaining connections are cut.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(ln) }()
	s.log.Info("http server listening", "addr", ln.Addr().String())

	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	s.log.Info("http server draining", "grace", s.opts.ShutdownTimeout.String())
	s.health.setDraining()
	sctx, cancel := context.WithTimeout(context.Background(), s.opts.ShutdownTimeout)
	defer cancel()
	if err := s.srv.Shutdown(sctx); err != nil {
		_ = s.srv.Close()
		return fmt.Errorf("drain %s: %w", ln.Addr(), err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	s.log.Info("http server stopped")
	return nil
}
