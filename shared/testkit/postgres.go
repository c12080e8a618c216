package testkit

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/testcontainers/testcontainers-go/wait"
)

const defaultPostgresURL = "postgres://postgres@127.0.0.1:5432/postgres"

// PostgresEnv is a database created for one test on a shared PostgreSQL server.
type PostgresEnv struct {
	Pool     *pgxpool.Pool
	URL      string // connection string of Database, for code that opens its own pool
	Database string // "test_<test name>_<random>"
}

var postgresContainer = &sharedContainer{start: func(ctx context.Context) (string, error) {
	hostPort, err := runContainer(ctx, "postgres:16-alpine", "5432/tcp",
		map[string]string{"POSTGRES_HOST_AUTH_METHOD": "trust"},
		// The entrypoint starts the server twice (init, then for real): wait for the second.
		wait.ForLog("database system is ready to accept connections").WithOccurrence(2))
	if err != nil {
		return "", err
	}
	return "postgres://postgres@" + hostPort + "/postgres?sslmode=disable", nil
}}

// Postgres creates a database with a unique name on the server of DATABASE_URL (default
// postgres://postgres@127.0.0.1:5432/postgres; the role needs CREATEDB) and returns a pool on it.
// Cleanup closes the pool and drops the database, disconnecting anyone still using it.
func Postgres(t testing.TB) PostgresEnv {
	t.Helper()
	admin, ok := reach(t, service{
		name:       "PostgreSQL",
		envVar:     "DATABASE_URL",
		defaultURL: defaultPostgresURL,
		howToStart: "apt-get install -y postgresql && service postgresql start, with trust auth for 127.0.0.1 in pg_hba.conf",
		probe:      pingPostgres,
		container:  postgresContainer,
	})
	if !ok {
		return PostgresEnv{}
	}
	env := PostgresEnv{Database: "test_" + strings.ToLower(slug(t.Name(), 40)) + "_" + randomHex(6)}
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	if err := execAdmin(ctx, admin, "CREATE DATABASE "+pgx.Identifier{env.Database}.Sanitize()); err != nil {
		t.Fatalf("testkit: %v", err)
		return PostgresEnv{}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		if env.Pool != nil {
			env.Pool.Close()
		}
		// FORCE (PostgreSQL 13+) ends sessions the test left open, which would block a plain DROP.
		drop := "DROP DATABASE IF EXISTS " + pgx.Identifier{env.Database}.Sanitize() + " WITH (FORCE)"
		if err := execAdmin(ctx, admin, drop); err != nil {
			t.Errorf("testkit: %v", err)
		}
	})
	env.URL = withDatabase(admin, env.Database)
	pool, err := pgxpool.New(ctx, env.URL)
	if err != nil {
		t.Fatalf("testkit: open pool on %s: %v", redact(env.URL), err)
		return PostgresEnv{}
	}
	env.Pool = pool
	if err := pool.Ping(ctx); err != nil {
		t.Fatalf("testkit: ping %s: %v", redact(env.URL), err)
		return PostgresEnv{}
	}
	return env
}

func pingPostgres(ctx context.Context, dsn string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	return conn.Close(ctx)
}

// execAdmin runs one statement on its own short-lived connection, so a test never holds an
// admin connection open.
func execAdmin(ctx context.Context, dsn, sql string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("connect %s: %w", redact(dsn), err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("%s: %w", sql, err)
	}
	return nil
}

// withDatabase returns dsn (a postgres:// URL or a key=value string) pointing at database db.
func withDatabase(dsn, db string) string {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		u.Path, u.RawPath = "/"+db, ""
		return u.String()
	}
	return dsn + " dbname=" + db // the last dbname wins
}
