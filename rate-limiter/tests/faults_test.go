// Package tests holds the rate limiter's cross-component tests: the engine on the real Redis
// store, with Redis cut off mid-test through a TCP proxy the test controls.
package tests

import (
	"context"
	"io"
	"log/slog"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/redisstore"
	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/rules"
	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/service"
	"github.com/hyperscaledesignhub/DesignSystems/shared/testkit"
)

const faultRules = `
domain: faults
descriptors:
  - key: mode
    value: open
    descriptors:
      - key: user
        rate_limit: {unit: minute, requests_per_unit: 1000, algorithm: gcra, failure_mode: open}
  - key: mode
    value: closed
    descriptors:
      - key: user
        rate_limit: {unit: minute, requests_per_unit: 1000, algorithm: gcra, failure_mode: closed}
  - key: mode
    value: local
    descriptors:
      - key: user
        rate_limit: {unit: minute, requests_per_unit: 10, algorithm: fixed_window, failure_mode: local}
`

// tcpProxy forwards to Redis until cut; while cut it refuses new connections (or, stalled,
// accepts them and never answers) and has dropped the existing ones.
type tcpProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	mode   string // "up", "refuse", "stall"
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &tcpProxy{ln: ln, target: target, mode: "up"}
	go p.accept()
	t.Cleanup(func() { ln.Close(); p.set("refuse") })
	return p
}

func (p *tcpProxy) addr() string { return p.ln.Addr().String() }

func (p *tcpProxy) set(mode string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode = mode
	if mode != "up" {
		for _, c := range p.conns {
			c.Close()
		}
		p.conns = nil
	}
}

func (p *tcpProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		mode := p.mode
		p.conns = append(p.conns, c)
		p.mu.Unlock()
		switch mode {
		case "refuse":
			c.Close()
		case "stall": // hold the connection open, never answer
		default:
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}
}

func newEngine(t *testing.T, addr, prefix string) *service.Engine {
	set, err := rules.Parse("faults.yaml", []byte(faultRules))
	require.NoError(t, err)
	client := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true}) // as cmd/ratelimit builds it
	t.Cleanup(func() { _ = client.Close() })
	store := redisstore.New(client, redisstore.Options{Prefix: prefix, Timeout: 50 * time.Millisecond})
	t.Cleanup(func() { _ = store.Close() })
	e, err := service.New(service.Options{Store: store, Shared: true, Rules: func() *rules.Set { return set },
		Replicas: 2, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	t.Cleanup(func() { _ = e.Close() })
	return e
}

func decide(t *testing.T, e *service.Engine, mode, user string) (service.Status, time.Duration) {
	start := time.Now()
	_, sts, err := e.Check(context.Background(), "faults", []service.Descriptor{{Entries: []rules.Entry{{Key: "mode", Value: mode}, {Key: "user", Value: user}}}}, 1)
	require.NoError(t, err)
	return sts[0], time.Since(start)
}

func TestFailureModesWhenRedisIsCutOff(t *testing.T) {
	for _, outage := range []string{"refuse", "stall"} {
		t.Run(outage, func(t *testing.T) {
			env := testkit.Redis(t)
			proxy := newTCPProxy(t, env.Addr)
			e := newEngine(t, proxy.addr(), env.Prefix)

			st, _ := decide(t, e, "open", "u1")
			require.Equal(t, service.OK, st.Code)
			require.Empty(t, st.FailureMode, "Redis answers: no failure mode")

			proxy.set(outage)
			var latencies []time.Duration
			// Many callers at once, before the breaker opens: each is answered within two deadlines
			// (the pipeline in flight when it arrived, then its own), and the breaker, counting
			// failed round trips, opens after a few.
			var wg sync.WaitGroup
			var slowest atomic.Int64
			for range 64 {
				wg.Go(func() {
					st, took := decide(t, e, "open", "u3")
					assert.Equal(t, rules.FailOpen, st.FailureMode)
					for old := slowest.Load(); int64(took) > old && !slowest.CompareAndSwap(old, int64(took)); old = slowest.Load() {
					}
				})
			}
			wg.Wait()
			t.Logf("outage %s: 64 concurrent callers, slowest %s", outage, time.Duration(slowest.Load()))
			assert.Less(t, time.Duration(slowest.Load()), 150*time.Millisecond, "within two 50 ms deadlines + scheduling")
			localAdmitted := 0
			for i := range 300 {
				for _, mode := range []string{"open", "closed", "local"} {
					st, took := decide(t, e, mode, "u1")
					latencies = append(latencies, took)
					switch mode {
					case "open":
						assert.Equal(t, service.OK, st.Code, "open admits (call %d)", i)
					case "closed":
						assert.Equal(t, service.OverLimit, st.Code, "closed denies (call %d)", i)
					case "local":
						if st.Code == service.OK {
							localAdmitted++
						}
					}
					assert.Equal(t, rules.FailureMode(mode), st.FailureMode)
				}
			}
			assert.Equal(t, 5, localAdmitted, "local enforces limit/replicas = 10/2 in this process")
			// Past the breaker's cooldown a probe goes to Redis, fails, and the modes still hold.
			time.Sleep(600 * time.Millisecond)
			for range 20 {
				st, took := decide(t, e, "closed", "u1")
				latencies = append(latencies, took)
				assert.Equal(t, service.OverLimit, st.Code)
				assert.Equal(t, rules.FailClosed, st.FailureMode)
			}
			sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
			p99 := latencies[len(latencies)*99/100]
			t.Logf("outage %s: p50 %s, p99 %s, max %s over %d decisions", outage, latencies[len(latencies)/2], p99, latencies[len(latencies)-1], len(latencies))
			assert.Less(t, p99, 55*time.Millisecond, "p99 within the 50 ms deadline + 5 ms")
			assert.False(t, e.StoreHealthy(), "breaker open during the outage")

			proxy.set("up")
			back := time.Now()
			for {
				st, _ := decide(t, e, "open", "u2")
				if st.FailureMode == "" {
					break
				}
				require.Less(t, time.Since(back), time.Second, "recovered within 1 s of Redis returning")
				time.Sleep(10 * time.Millisecond)
			}
			t.Logf("recovered %s after Redis returned", time.Since(back))
		})
	}
}
