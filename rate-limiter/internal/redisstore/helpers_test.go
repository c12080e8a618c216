package redisstore

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/limit"
	"github.com/hyperscaledesignhub/DesignSystems/shared/testkit"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

// newStore returns a Store confined to a fresh testkit prefix, closed when the test ends.
func newStore(t *testing.T, opts Options) (*Store, testkit.RedisEnv) {
	t.Helper()
	env := testkit.Redis(t)
	opts.Prefix = env.Prefix
	s := New(env.Client, opts)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s, env
}

// newClient returns a client of its own on env's server (so that a test can hook it), closed
// when the test ends.
func newClient(t *testing.T, env testkit.RedisEnv, edit func(*redis.Options)) *redis.Client {
	t.Helper()
	opts, err := redis.ParseURL(env.URL)
	require.NoError(t, err)
	if edit != nil {
		edit(opts)
	}
	c := redis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// redisNow reads the Redis clock, the one every script uses.
func redisNow(t testing.TB, c redis.UniversalClient) time.Time {
	t.Helper()
	now, err := c.Time(context.Background()).Result()
	require.NoError(t, err)
	return now
}

// sleepUntilWindowOffset sleeps until the Redis clock is offset past the start of a window of
// period (windows aligned to the Unix epoch, as the window algorithms align them), and returns
// when that window ends.
func sleepUntilWindowOffset(t testing.TB, c redis.UniversalClient, period, offset time.Duration) time.Time {
	t.Helper()
	now := redisNow(t, c)
	into := time.Duration(now.UnixNano() % int64(period))
	wait := offset - into
	if wait < 0 {
		wait += period
	}
	time.Sleep(wait)
	start := now.Add(wait - offset)
	return start.Add(period)
}

// avoidWindowEnd returns at once unless the current window of period (aligned to the Unix
// epoch) ends within margin on the Redis clock; then it sleeps into the next window.
func avoidWindowEnd(t testing.TB, c redis.UniversalClient, period, margin time.Duration) {
	t.Helper()
	now := redisNow(t, c)
	if left := period - time.Duration(now.UnixNano()%int64(period)); left < margin {
		time.Sleep(left + 5*time.Millisecond)
	}
}

// clockSpan is an interval of the Redis clock known to hold some requests' decisions: read
// before the first was sent and after the last was answered.
type clockSpan struct{ from, to time.Time }

// during runs f between two readings of the Redis clock.
func during(t testing.TB, c redis.UniversalClient, f func()) clockSpan {
	t.Helper()
	from := redisNow(t, c)
	f()
	return clockSpan{from, redisNow(t, c)}
}

func (s clockSpan) width() time.Duration { return s.to.Sub(s.from) }

// offset is how far t lies into its window of period (windows aligned to the Unix epoch).
func offset(t time.Time, period time.Duration) time.Duration {
	return time.Duration(t.UnixNano() % int64(period))
}

// sameWindow reports whether the span lies within one window of period.
func (s clockSpan) sameWindow(period time.Duration) bool {
	return s.from.UnixNano()/int64(period) == s.to.UnixNano()/int64(period)
}

// retrying runs try up to three times, each with a fresh key. try returns "" once its timing
// preconditions held and it made its assertions, or why they did not hold (a machine too busy
// to keep a test's schedule) before asserting anything. After three misses the test is skipped
// with the reasons: slowness is not a wrong answer, and a wrong answer fails on any try.
func retrying(t *testing.T, try func(key string) (missed string)) {
	t.Helper()
	var misses []string
	for i := range 3 {
		missed := try(fmt.Sprintf("k%d", i))
		if missed == "" {
			return
		}
		misses = append(misses, missed)
	}
	t.Skipf("the machine was too slow to keep the test's schedule three times: %s", strings.Join(misses, "; "))
}

// allowN sends n requests of one unit in one pipeline and counts the admitted ones.
func allowN(t testing.TB, s *Store, key string, l limit.Limit, n int) (int, []limit.Decision) {
	t.Helper()
	reqs := make([]limit.Request, n)
	for i := range reqs {
		reqs[i] = limit.Request{Key: key, Limit: l}
	}
	ds, err := s.AllowBatch(context.Background(), reqs)
	require.NoError(t, err)
	return admitted(ds), ds
}

func admitted(ds []limit.Decision) int {
	n := 0
	for _, d := range ds {
		if d.Allowed {
			n++
		}
	}
	return n
}

// keysUnder lists every key under prefix, with SCAN.
func keysUnder(t testing.TB, c redis.UniversalClient, prefix string) []string {
	t.Helper()
	var keys []string
	iter := c.Scan(context.Background(), 0, globQuote(prefix)+"*", 1000).Iterator()
	for iter.Next(context.Background()) {
		keys = append(keys, iter.Val())
	}
	require.NoError(t, iter.Err())
	return keys
}

func globQuote(s string) string {
	return regexp.MustCompile(`([\\*?\[\]^])`).ReplaceAllString(s, `\$1`)
}

// countingHook counts the script runs a client sends: single EVAL/EVALSHA commands and the
// pipelines that hold some, each one round trip. (The client's own connection set-up, HELLO and
// CLIENT SETINFO, is not counted.)
type countingHook struct {
	commands  atomic.Int64
	pipelines atomic.Int64
	piped     atomic.Int64  // commands sent in pipelines
	delay     time.Duration // added to each pipeline of scripts, as a slow link would
}

func (h *countingHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *countingHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if isEval(cmd) {
			h.commands.Add(1)
		}
		return next(ctx, cmd)
	}
}

func (h *countingHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		evals := 0
		for _, c := range cmds {
			if isEval(c) {
				evals++
			}
		}
		if evals > 0 {
			h.pipelines.Add(1)
			h.piped.Add(int64(evals))
			time.Sleep(h.delay)
		}
		return next(ctx, cmds)
	}
}

func isEval(cmd redis.Cmder) bool {
	name := cmd.Name()
	return name == "eval" || name == "evalsha"
}

func (h *countingHook) roundTrips() int64 { return h.commands.Load() + h.pipelines.Load() }
