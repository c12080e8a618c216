package testkit

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPostgres(t *testing.T) {
	t.Parallel()
	var env PostgresEnv
	var adminURL string
	dbExists := func(t *testing.T, name string) bool {
		t.Helper()
		conn, err := pgx.Connect(t.Context(), adminURL)
		require.NoError(t, err)
		defer conn.Close(context.Background())
		var n int
		require.NoError(t, conn.QueryRow(t.Context(), "SELECT count(*) FROM pg_database WHERE datname = $1", name).Scan(&n))
		return n == 1
	}

	t.Run("database", func(t *testing.T) {
		// Registered before Postgres, so it closes after the DROP: a session still open at
		// cleanup must not block it.
		var lingering *pgx.Conn
		t.Cleanup(func() {
			if lingering != nil {
				_ = lingering.Close(context.Background())
			}
		})

		env = Postgres(t)
		ctx := t.Context()
		adminURL = withDatabase(env.URL, "postgres")
		assert.True(t, dbExists(t, env.Database), "pg_database has no %s", env.Database)
		assert.Regexp(t, `^test_testpostgres_database_[0-9a-f]{12}$`, env.Database)
		assert.NotEqual(t, env.Database, Postgres(t).Database)

		var current string
		require.NoError(t, env.Pool.QueryRow(ctx, "SELECT current_database()").Scan(&current))
		assert.Equal(t, env.Database, current)
		_, err := env.Pool.Exec(ctx, "CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL)")
		require.NoError(t, err)
		_, err = env.Pool.Exec(ctx, "INSERT INTO items VALUES (1, 'one'), (2, 'two')")
		require.NoError(t, err)
		var name string
		require.NoError(t, env.Pool.QueryRow(ctx, "SELECT name FROM items WHERE id = 2").Scan(&name))
		assert.Equal(t, "two", name)

		lingering, err = pgx.Connect(ctx, env.URL)
		require.NoError(t, err)
	})
	if env.Pool == nil {
		return // skipped: no PostgreSQL
	}
	assert.False(t, dbExists(t, env.Database), "%s still exists after cleanup", env.Database)
}
