package proc

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A real process built on shared/httpx: ready after start, and SIGTERM lets an in-flight
// request finish before the process exits 0.
func TestBuildStartReadyStop(t *testing.T) {
	root, err := RepoRoot()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bin, err := Build(ctx, root, "./shared/proc/testdata/server", t.TempDir())
	require.NoError(t, err)

	port, err := FreePort()
	require.NoError(t, err)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	var log strings.Builder
	p, err := Start("server", bin, nil, []string{fmt.Sprintf("ADDR=127.0.0.1:%d", port)}, &log)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Stop(time.Second) })
	require.NoError(t, p.WaitReady(ctx, base+"/readyz"))

	got := make(chan string, 1)
	go func() {
		res, err := http.Get(base + "/slow")
		if err != nil {
			got <- err.Error()
			return
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		got <- string(b)
	}()
	time.Sleep(100 * time.Millisecond) // the request is in the handler's sleep
	require.NoError(t, p.Stop(5*time.Second), "clean exit after SIGTERM")
	assert.Equal(t, "slow done", <-got)
	exited, err := p.Exited()
	assert.True(t, exited)
	assert.NoError(t, err)
}

func TestWaitReadyReportsEarlyExit(t *testing.T) {
	p, err := Start("false", "/bin/false", nil, nil, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = p.WaitReady(ctx, "http://127.0.0.1:1/readyz")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "exited before it was ready")
}
