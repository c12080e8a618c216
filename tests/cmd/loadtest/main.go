// Command loadtest runs the systems' load scenarios (`make load-test`) through shared/loadgen — open
// loop, HDR percentiles — and writes a Markdown and a self-contained HTML report under reports/.
//
// Until the systems exist it runs the baseline every system is compared with: the shared HTTP stack
// (shared/httpx, all middleware on) against a bare net/http server with the same handler, in the
// same run, so the cost of the stack is a measured number rather than a guess.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"github.com/hyperscaledesignhub/DesignSystems/shared/httpx"
	"github.com/hyperscaledesignhub/DesignSystems/shared/loadgen"
	"github.com/hyperscaledesignhub/DesignSystems/shared/proc"
)

// Params are the knobs every scenario honours.
type Params struct {
	Rate     float64
	Duration time.Duration
	Progress io.Writer
}

// Scenario is one system's load test; it starts what it needs and stops it before returning.
type Scenario struct {
	System string
	Run    func(ctx context.Context, p Params) ([]*loadgen.Result, error)
}

// scenarios: each system's issue adds its own, in a file beside this one.
var scenarios = []Scenario{
	{System: "shared", Run: baseline},
	{System: "rate-limiter", Run: rateLimiterLoad},
	{System: "kvdb", Run: kvdbLoad},
	{System: "chat-app", Run: chatAppLoad},
}

func main() {
	sys := flag.String("sys", "", "run only this system's scenario (default: all)")
	rate := flag.Float64("rate", 2000, "arrivals per second")
	dur := flag.Duration("duration", 10*time.Second, "measured duration per scenario")
	out := flag.String("out", "reports", "report directory (relative to the repository root)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *sys, Params{Rate: *rate, Duration: *dur, Progress: os.Stderr}, *out); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, sys string, p Params, out string) error {
	var results []*loadgen.Result
	ran := false
	for _, s := range scenarios {
		if sys != "" && s.System != sys {
			continue
		}
		ran = true
		fmt.Fprintf(os.Stderr, "== %s: %.0f req/s for %s\n", s.System, p.Rate, p.Duration)
		rs, err := s.Run(ctx, p)
		if err != nil {
			return fmt.Errorf("%s: %w", s.System, err)
		}
		results = append(results, rs...)
	}
	if !ran {
		names := make([]string, 0, len(scenarios))
		for _, s := range scenarios {
			names = append(names, s.System)
		}
		sort.Strings(names)
		return fmt.Errorf("no load scenario for %q yet; there are: %v (a system's issue adds its own)", sys, names)
	}
	if !filepath.IsAbs(out) {
		root, err := proc.RepoRoot()
		if err != nil {
			return err
		}
		out = filepath.Join(root, out)
	}
	md, html, err := loadgen.WriteReport(out, "load test", results...)
	if err != nil {
		return err
	}
	b, err := os.ReadFile(md)
	if err != nil {
		return err
	}
	fmt.Printf("%s\nreports: %s, %s\n", b, md, html)
	return nil
}

// baseline measures one small JSON endpoint served by shared/httpx and by bare net/http.
func baseline(ctx context.Context, p Params) ([]*loadgen.Result, error) {
	hello := func(w http.ResponseWriter, _ *http.Request) {
		httpx.WriteJSON(w, http.StatusOK, map[string]string{"hello": "world"})
	}

	stack, err := httpx.New(httpx.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return nil, err
	}
	stack.Router().Get("/hello/{name}", hello)
	bare := http.NewServeMux()
	bare.HandleFunc("GET /hello/{name}", hello)

	var results []*loadgen.Result
	for _, c := range []struct {
		name string
		h    http.Handler
	}{{"shared/httpx (all middleware)", stack.Handler()}, {"net/http (bare, the peer)", bare}} {
		r, err := serveAndLoad(ctx, c.name, c.h, p)
		if err != nil {
			return nil, err
		}
		results = append(results, r)
	}
	return results, nil
}

func serveAndLoad(ctx context.Context, name string, h http.Handler, p Params) (*loadgen.Result, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	url := "http://" + ln.Addr().String() + "/hello/loadgen"
	target := httpTarget(func(ctx context.Context) (*http.Request, error) {
		return http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	})
	return loadgen.Run(ctx, loadgen.Config{
		Name: name, Rate: p.Rate, Duration: p.Duration, Warmup: time.Second, Timeout: 5 * time.Second, Progress: p.Progress,
	}, target)
}

// httpTarget turns a request builder into a load target: a pooled client sized for the open
// loop's concurrency, the body drained so connections are reused, and errors reduced to short
// kinds ("http 503", "connect error") so the report groups them.
func httpTarget(build func(ctx context.Context) (*http.Request, error)) loadgen.Target {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1024, MaxConnsPerHost: 1024}}
	return func(ctx context.Context) error {
		req, err := build(ctx)
		if err != nil {
			return err
		}
		res, err := client.Do(req)
		if err != nil {
			return errors.New("connect error")
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("http %d", res.StatusCode)
		}
		return nil
	}
}

// build compiles the command pkg (e.g. "./kvdb/cmd/kvdb") of this repository into dir.
func build(ctx context.Context, pkg, dir string) (string, error) {
	root, err := proc.RepoRoot()
	if err != nil {
		return "", err
	}
	return proc.Build(ctx, root, pkg, dir)
}
