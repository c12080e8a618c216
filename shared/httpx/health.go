package httpx

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// Check is a named readiness check. Fn must honour ctx; it gets Timeout (default 2 s).
type Check struct {
	Name    string
	Timeout time.Duration
	Fn      func(ctx context.Context) error
}

// health serves /healthz and /readyz.
//
// Liveness (/healthz) only says the process can answer: restarting a pod because its database is
// down would not bring the database back. Readiness (/readyz) runs every check, concurrently and
// each with its own deadline, and turns 503 while any fails or while the server shuts down, so
// load balancers stop sending traffic before the listener closes.
type health struct {
	mu       sync.RWMutex
	checks   []Check
	draining bool
}

func (h *health) add(c Check) {
	if c.Timeout <= 0 {
		c.Timeout = 2 * time.Second
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.checks = append(h.checks, c)
}

func (h *health) setDraining() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.draining = true
}

func (h *health) live(w http.ResponseWriter, _ *http.Request) {
	WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (h *health) ready(w http.ResponseWriter, r *http.Request) {
	h.mu.RLock()
	checks, draining := h.checks, h.draining
	h.mu.RUnlock()
	if draining {
		WriteProblem(w, r, NewProblem(http.StatusServiceUnavailable, "shutting down"))
		return
	}
	results := make(map[string]string, len(checks))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range checks {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(r.Context(), c.Timeout)
			defer cancel()
			msg := "ok"
			if err := runCheck(ctx, c); err != nil {
				msg = err.Error()
			}
			mu.Lock()
			results[c.Name] = msg
			mu.Unlock()
		})
	}
	wg.Wait()
	var failed []string
	for name, msg := range results {
		if msg != "ok" {
			failed = append(failed, name)
		}
	}
	if len(failed) > 0 {
		sort.Strings(failed)
		WriteProblem(w, r, Problemf(http.StatusServiceUnavailable, "not ready: %s", strings.Join(failed, ", ")).With("checks", results))
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{"status": "ready", "checks": results})
}

// runCheck returns when the check does or its deadline passes, whichever is first, so one check
// that ignores its context cannot hang the probe.
func runCheck(ctx context.Context, c Check) error {
	done := make(chan error, 1)
	go func() {
		defer func() {
			if v := recover(); v != nil {
				done <- fmt.Errorf("check panicked: %v", v)
			}
		}()
		done <- c.Fn(ctx)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("timed out after %s", c.Timeout)
	}
}
