package testkit

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/testcontainers/testcontainers-go/wait"
)

const defaultRedisURL = "redis://127.0.0.1:6379"

// RedisEnv is a Redis server shared with other tests, isolated by key prefix: a test must only
// touch keys built with Key (or starting with Prefix).
type RedisEnv struct {
	Client *redis.Client
	URL    string // redis://host:port[/db] of the server
	Addr   string // host:port of the server
	Prefix string // "test:<test name>:<random>:", unique to this RedisEnv
}

// Key returns Prefix followed by parts joined with ":".
func (e RedisEnv) Key(parts ...string) string {
	return e.Prefix + strings.Join(parts, ":")
}

var redisContainer = &sharedContainer{start: func(ctx context.Context) (string, error) {
	hostPort, err := runContainer(ctx, "redis:7-alpine", "6379/tcp", nil,
		wait.ForLog("Ready to accept connections"))
	if err != nil {
		return "", err
	}
	return "redis://" + hostPort, nil
}}

// Redis returns a client for REDIS_URL (default redis://127.0.0.1:6379) and a key prefix unique to
// this call. Cleanup deletes every key under the prefix and closes the client.
func Redis(t testing.TB) RedisEnv {
	t.Helper()
	u, ok := reach(t, service{
		name:       "Redis",
		envVar:     "REDIS_URL",
		defaultURL: defaultRedisURL,
		howToStart: "redis-server --daemonize yes (apt-get install -y redis-server)",
		probe:      pingRedis,
		container:  redisContainer,
	})
	if !ok {
		return RedisEnv{}
	}
	opts, err := redis.ParseURL(u)
	if err != nil {
		t.Fatalf("testkit: parse Redis URL %s: %v", redact(u), err)
		return RedisEnv{}
	}
	env := RedisEnv{
		Client: redis.NewClient(opts),
		URL:    u,
		Addr:   opts.Addr,
		Prefix: "test:" + slug(t.Name(), 80) + ":" + randomHex(6) + ":",
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		if err := deletePrefix(ctx, env.Client, env.Prefix); err != nil {
			t.Errorf("testkit: delete Redis keys %s*: %v", env.Prefix, err)
		}
		if err := env.Client.Close(); err != nil {
			t.Errorf("testkit: close Redis client: %v", err)
		}
	})
	return env
}

func pingRedis(ctx context.Context, u string) error {
	opts, err := redis.ParseURL(u)
	if err != nil {
		return err
	}
	// The probe's answer is wanted now, not after backoff.
	opts.MaxRetries, opts.DialerRetries = -1, 1
	c := redis.NewClient(opts)
	defer c.Close()
	return c.Ping(ctx).Err()
}

// deletePrefix removes every key starting with prefix, with SCAN (never blocking the server as
// KEYS would) and UNLINK (freeing memory off the main thread).
func deletePrefix(ctx context.Context, c *redis.Client, prefix string) error {
	match := globEscape(prefix) + "*"
	var cursor uint64
	for {
		keys, next, err := c.Scan(ctx, cursor, match, 1000).Result()
		if err != nil {
			return fmt.Errorf("scan %s: %w", match, err)
		}
		if len(keys) > 0 {
			if err := c.Unlink(ctx, keys...).Err(); err != nil {
				return fmt.Errorf("unlink %d keys: %w", len(keys), err)
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}

// globEscape quotes the characters Redis MATCH patterns treat specially.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`\*?[]^`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
