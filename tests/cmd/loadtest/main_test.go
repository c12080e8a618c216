package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBaselineWritesReport(t *testing.T) {
	out := t.TempDir()
	require.NoError(t, run(context.Background(), "shared", Params{Rate: 200, Duration: time.Second}, out))
	md, err := os.ReadFile(filepath.Join(out, "load-test.md"))
	require.NoError(t, err)
	for _, want := range []string{"shared/httpx (all middleware)", "net/http (bare, the peer)", "p99.9"} {
		assert.Contains(t, string(md), want)
	}
	html, err := os.ReadFile(filepath.Join(out, "load-test.html"))
	require.NoError(t, err)
	assert.True(t, strings.Contains(string(html), "<svg"))

	err = run(context.Background(), "ad-system", Params{Rate: 1, Duration: time.Second}, out)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no load scenario")
}
