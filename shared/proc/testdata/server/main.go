// Command server is a minimal service built on shared/httpx, used to test process control and the
// shared server's behaviour as a real process (SIGTERM drains in-flight requests).
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/hyperscaledesignhub/DesignSystems/shared/httpx"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
}

func run() error {
	s, err := httpx.New(httpx.Options{Addr: os.Getenv("ADDR"), Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	if err != nil {
		return err
	}
	s.Router().Get("/slow", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(500 * time.Millisecond)
		_, _ = io.WriteString(w, "slow done")
	})
	return s.Run(context.Background())
}
