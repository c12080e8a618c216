package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRunReportsEachSystem(t *testing.T) {
	saved := scenarios
	t.Cleanup(func() { scenarios = saved })
	scenarios = []Scenario{
		{System: "kvdb", Run: func(_ context.Context, env *Env) (Outcome, error) {
			env.Progress("wrote %d keys", 3)
			return Outcome{Showed: "put/get", Figure: "3 keys"}, nil
		}},
		{System: "chat-app", Run: func(context.Context, *Env) (Outcome, error) {
			return Outcome{}, errors.New("gateway never became ready")
		}},
	}
	var out strings.Builder
	failed, err := run(context.Background(), &out, "", time.Minute)
	require.NoError(t, err)
	assert.Equal(t, 1, failed)
	s := out.String()
	assert.Contains(t, s, "wrote 3 keys")
	assert.Regexp(t, `kvdb\s+ok\s+put/get\s+3 keys`, s)
	assert.Regexp(t, `chat-app\s+FAILED\s+gateway never became ready`, s)
	assert.Regexp(t, `ad-system\s+not built yet`, s)

	out.Reset()
	failed, err = run(context.Background(), &out, "kvdb", time.Minute)
	require.NoError(t, err)
	assert.Equal(t, 0, failed)
	assert.NotContains(t, out.String(), "chat-app")
}
