package tests

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/api"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/apitest"
	"github.com/hyperscaledesignhub/DesignSystems/shared/proc"
	"github.com/hyperscaledesignhub/DesignSystems/shared/testkit"
)

// e2eWait bounds every wait of the end-to-end test: generous, because a loaded 2-core machine
// running the whole suite under -race is slow; nothing asserts how fast something happens.
const e2eWait = 30 * time.Second

// e2eCluster is chat-api and the gateways as separate processes, sharing a fresh PostgreSQL
// database and a Redis key prefix.
type e2eCluster struct {
	api      string   // http://127.0.0.1:port of chat-api
	gateways []string // ws://127.0.0.1:port/ws, one per gateway
	procs    []*proc.Process
}

// startE2ECluster builds chat-api and chat-gateway, then starts chat-api and n gateways and waits
// until each answers /readyz. Cleanup stops them (SIGTERM) and, if the test failed, logs the
// tail of each process's output.
func startE2ECluster(t *testing.T, gateways int) *e2eCluster {
	t.Helper()
	db := testkit.Postgres(t)
	rdb := testkit.Redis(t)
	root, err := proc.RepoRoot()
	require.NoError(t, err)
	dir := t.TempDir()
	bins := map[string]string{}
	var g errgroup.Group
	bctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute) // a cold build on 2 cores
	defer cancel()
	for _, name := range []string{"chat-api", "chat-gateway"} {
		out, err := os.MkdirTemp(dir, name)
		require.NoError(t, err)
		bins[name] = filepath.Join(out, name)
		g.Go(func() error {
			_, err := proc.Build(bctx, root, "./chat-app/cmd/"+name, out)
			return err
		})
	}
	require.NoError(t, g.Wait())

	common := []string{"DATABASE_URL=" + db.URL, "REDIS_URL=" + rdb.URL, "KEY_PREFIX=" + rdb.Prefix,
		"JWT_SECRET=e2e-secret-0123456789abcdef0123456789", "LOG_FORMAT=json", "SHUTDOWN_TIMEOUT=5s"}
	c := &e2eCluster{}
	start := func(name, bin string, env ...string) string {
		t.Helper()
		port, err := proc.FreePort()
		require.NoError(t, err)
		addr := "127.0.0.1:" + strconv.Itoa(port)
		logPath := filepath.Join(dir, name+".log")
		logFile, err := os.Create(logPath)
		require.NoError(t, err)
		env = append(append(env, common...), "HTTP_ADDR="+addr, "GATEWAY_ADDR="+addr)
		p, err := proc.Start(name, bin, nil, env, logFile)
		require.NoError(t, err)
		c.procs = append(c.procs, p)
		t.Cleanup(func() {
			if err := p.Stop(10 * time.Second); err != nil {
				t.Logf("%s: %v", name, err) // a SIGKILLed gateway ends here too
			}
			_ = logFile.Close()
			if t.Failed() {
				b, _ := os.ReadFile(logPath)
				t.Logf("%s output (tail):\n%s", name, tail(b, 3000))
			}
		})
		ctx, cancel := context.WithTimeout(t.Context(), e2eWait)
		defer cancel()
		require.NoError(t, p.WaitReady(ctx, "http://"+addr+"/readyz"))
		return addr
	}
	// chat-api first: it owns the migrations the gateways rely on.
	c.api = "http://" + start("chat-api", bins["chat-api"], "NODE_ID=1", "LOGIN_PER_MINUTE=0")
	for i := range gateways {
		addr := start(fmt.Sprintf("chat-gateway-%c", 'a'+i), bins["chat-gateway"], fmt.Sprintf("NODE_ID=%d", 10+i))
		c.gateways = append(c.gateways, "ws://"+addr+"/ws")
	}
	return c
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// signup signs name up on chat-api.
func (c *e2eCluster) signup(t *testing.T, name string) api.AuthResponse {
	t.Helper()
	return apitest.Signup(t, c.api, name, "correct horse "+name)
}

// history reads a conversation's whole log over the API, oldest first.
func (c *e2eCluster) history(t *testing.T, token string, conv int64) []api.Message {
	t.Helper()
	var all []api.Message
	before := int64(0)
	for {
		var page api.MessagesResponse
		apitest.Call(t, http.MethodGet, fmt.Sprintf("%s/v1/conversations/%d/messages?limit=200&before_seq=%d", c.api, conv, before),
			token, nil, &page, http.StatusOK)
		all = append(all, page.Messages...) // newest first
		if page.NextBeforeSeq == 0 {
			break
		}
		before = page.NextBeforeSeq
	}
	for i, j := 0, len(all)-1; i < j; i, j = i+1, j-1 {
		all[i], all[j] = all[j], all[i]
	}
	return all
}
