package loadgen_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/hyperscaledesignhub/DesignSystems/shared/loadgen"
)

// A load-test scenario: GET a URL at 500 requests per second for 30 seconds,
// then write reports/<slug>.md and .html. (Compiled, not run: it needs a server.)
func ExampleRun() {
	ctx := context.Background()
	// The default transport keeps 2 idle connections per host; at hundreds of
	// requests per second it would open a new connection for most of them.
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1000}}
	get := func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:8100/v1/check", nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			// Drop the "Get <url>:" prefix so the kind reads "dial tcp ...: connection refused".
			// Timeouts need nothing: loadgen classifies them by the context.
			if uerr := (*url.Error)(nil); errors.As(err, &uerr) {
				err = uerr.Err
			}
			return err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body) // lets the connection be reused
		if resp.StatusCode >= 300 {
			return fmt.Errorf("http %d", resp.StatusCode) // short, low-cardinality kind
		}
		return nil
	}

	res, err := loadgen.Run(ctx, loadgen.Config{
		Name:     "check, 500/s",
		Rate:     500,
		Duration: 30 * time.Second,
		Warmup:   5 * time.Second,
		Timeout:  2 * time.Second,
		Progress: os.Stderr,
	}, get)
	if err != nil {
		log.Fatal(err)
	}
	md, html, err := loadgen.WriteReport("reports", "rate limiter", res)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(md, html, res.Latency.P99)
}
