package pgstore_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/chat"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/chat/chattest"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/pgstore"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/snowflake"
	"github.com/hyperscaledesignhub/DesignSystems/shared/testkit"
)

func TestContract(t *testing.T) {
	chattest.Run(t, func(t *testing.T) chat.Store {
		env := testkit.Postgres(t)
		_, err := pgstore.Migrate(t.Context(), env.Pool)
		require.NoError(t, err)
		ids, err := snowflake.New(1, nil)
		require.NoError(t, err)
		return pgstore.New(env.Pool, ids)
	})
}

func TestPushContract(t *testing.T) {
	chattest.RunPush(t, func(t *testing.T) chattest.PushStore {
		env := testkit.Postgres(t)
		_, err := pgstore.Migrate(t.Context(), env.Pool)
		require.NoError(t, err)
		ids, err := snowflake.New(1, nil)
		require.NoError(t, err)
		return struct {
			*pgstore.Store
			*pgstore.PushStore
		}{pgstore.New(env.Pool, ids), pgstore.NewPushStore(env.Pool)}
	})
}

func versions(t *testing.T, env testkit.PostgresEnv) []int {
	t.Helper()
	rows, err := env.Pool.Query(context.Background(), "SELECT version FROM schema_migrations ORDER BY version")
	require.NoError(t, err)
	var out []int
	for rows.Next() {
		var v int
		require.NoError(t, rows.Scan(&v))
		out = append(out, v)
	}
	require.NoError(t, rows.Err())
	return out
}

func TestMigrateTwiceAppliesOnce(t *testing.T) {
	t.Parallel()
	env := testkit.Postgres(t)
	applied, err := pgstore.Migrate(t.Context(), env.Pool)
	require.NoError(t, err)
	assert.Equal(t, []int{1, 2, 3, 4}, applied)
	applied, err = pgstore.Migrate(t.Context(), env.Pool)
	require.NoError(t, err)
	assert.Empty(t, applied, "the second run finds everything applied")
	assert.Equal(t, []int{1, 2, 3, 4}, versions(t, env))
}

func TestConcurrentMigrate(t *testing.T) {
	t.Parallel()
	env := testkit.Postgres(t)
	const migrators = 4
	got := make([][]int, migrators)
	errs := make([]error, migrators)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range migrators {
		wg.Go(func() {
			<-start
			got[i], errs[i] = pgstore.Migrate(t.Context(), env.Pool)
		})
	}
	close(start)
	wg.Wait()
	count := map[int]int{}
	for i := range migrators {
		require.NoError(t, errs[i], "migrator %d", i)
		for _, v := range got[i] {
			count[v]++
		}
	}
	assert.Equal(t, map[int]int{1: 1, 2: 1, 3: 1, 4: 1}, count, "each migration applied by exactly one migrator")
	assert.Equal(t, []int{1, 2, 3, 4}, versions(t, env))
}
