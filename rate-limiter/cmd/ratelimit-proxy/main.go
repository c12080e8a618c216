// Command ratelimit-proxy puts rate limits in front of any HTTP upstream: it derives descriptors
// from each request, asks the limiter (embedded, or a ratelimit service at LIMITER_URL), answers
// 429 with Retry-After when over the limit, and sets X-RateLimit-* and RateLimit-Policy/RateLimit
// headers on every response.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/client"
	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/defaults"
	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/proxy"
	"github.com/hyperscaledesignhub/DesignSystems/shared/boot"
	"github.com/hyperscaledesignhub/DesignSystems/shared/httpx"
)

var version = "dev"

// Config is every setting, from the environment; the defaults run with no external service.
type Config struct {
	ProxyAddr       string        `env:"PROXY_ADDR" envDefault:":8102"`
	OpsAddr         string        `env:"OPS_ADDR" envDefault:":8103"` // /healthz, /readyz, /metrics
	UpstreamURL     string        `env:"UPSTREAM_URL"`                // empty: a built-in echo upstream
	LimiterURL      string        `env:"LIMITER_URL"`                 // empty: the limiter embedded, built-in rules
	Domain          string        `env:"DOMAIN" envDefault:"proxy"`
	Descriptors     string        `env:"DESCRIPTORS" envDefault:"remote_address=ip;method=method,path=path;api_key=header:X-API-Key"`
	TrustedProxies  []string      `env:"TRUSTED_PROXIES"`
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"20s"`
}

func main() { boot.Main("ratelimit-proxy", version, "rate-limiter/README.md", run) }

func run(ctx context.Context, s *boot.Service[Config]) error {
	cfg, logger, tel := s.Config, s.Logger, s.Telemetry
	templates, err := proxy.ParseDescriptors(cfg.Descriptors)
	if err != nil {
		return err
	}

	var limiter *client.Client
	if cfg.LimiterURL != "" {
		limiter = client.NewRemote(cfg.LimiterURL, cfg.Domain)
		logger.Info("limiter: remote", "url", cfg.LimiterURL)
	} else {
		b, err := defaults.Rules.ReadFile("rules/proxy.yaml")
		if err != nil {
			return err
		}
		if limiter, err = client.NewLocal(b, cfg.Domain); err != nil {
			return err
		}
		logger.Info("limiter: embedded with the built-in proxy rules; set LIMITER_URL to share limits through a ratelimit service")
	}
	defer limiter.Close()

	g, ctx := errgroup.WithContext(ctx)
	upstream := cfg.UpstreamURL
	if upstream == "" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		upstream = "http://" + ln.Addr().String()
		echo := &http.Server{Handler: http.HandlerFunc(echoHandler), ReadHeaderTimeout: 5 * time.Second}
		g.Go(func() error {
			<-ctx.Done()
			return echo.Close()
		})
		g.Go(func() error {
			if err := echo.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
		logger.Info("upstream: built-in echo; set UPSTREAM_URL to proxy a real service", "url", upstream)
	}
	target, err := url.Parse(upstream)
	if err != nil || target.Host == "" {
		return fmt.Errorf("UPSTREAM_URL %q: want an absolute URL such as http://app:8080", upstream)
	}
	h, err := proxy.New(proxy.Options{Upstream: target, Limiter: limiter, Domain: cfg.Domain, Descriptors: templates,
		Logger: logger, Registry: tel.Registry})
	if err != nil {
		return err
	}

	front, err := httpx.New(httpx.Options{Addr: cfg.ProxyAddr, Logger: logger, Telemetry: tel,
		ShutdownTimeout: cfg.ShutdownTimeout, TrustedProxies: cfg.TrustedProxies, MaxBodyBytes: 32 << 20, NoOpsRoutes: true})
	if err != nil {
		return err
	}
	front.Router().Handle("/*", h)
	ops, err := httpx.New(httpx.Options{Addr: cfg.OpsAddr, Logger: logger, Telemetry: tel})
	if err != nil {
		return err
	}
	g.Go(func() error { return front.Run(ctx) })
	g.Go(func() error { return ops.Run(ctx) })
	return g.Wait()
}

// echoHandler answers with what it received, so the proxy can be tried with nothing behind it.
func echoHandler(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "echo: %s %s\n", r.Method, r.URL.RequestURI())
	names := make([]string, 0, len(r.Header))
	for k := range r.Header {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		fmt.Fprintf(w, "%s: %s\n", k, r.Header.Get(k))
	}
	_, _ = io.Copy(io.Discard, r.Body)
}
