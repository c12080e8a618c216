package testkit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recordingTB records what the absent-backend policy decided instead of stopping the test.
// Everything else goes to the real test it embeds.
type recordingTB struct {
	testing.TB
	skipped, fatal string
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Skipf(format string, args ...any) { r.skipped = fmt.Sprintf(format, args...) }

func (r *recordingTB) Fatalf(format string, args ...any) { r.fatal = fmt.Sprintf(format, args...) }

func TestUnavailableSkipsUnlessCI(t *testing.T) {
	for _, tc := range []struct {
		ci   string
		fail bool
	}{
		{ci: "", fail: false},
		{ci: "false", fail: false},
		{ci: "0", fail: false},
		{ci: "true", fail: true},
		{ci: "TRUE", fail: true},
		{ci: "1", fail: true},
		{ci: "yes", fail: true},
	} {
		t.Run("CI="+tc.ci, func(t *testing.T) {
			t.Setenv("CI", tc.ci)
			rec := &recordingTB{TB: t}
			Unavailable(rec, "Redis did not answer at %s", "redis://127.0.0.1:1")
			if tc.fail {
				assert.Empty(t, rec.skipped)
				assert.Contains(t, rec.fatal, "testkit: Redis did not answer at redis://127.0.0.1:1")
			} else {
				assert.Empty(t, rec.fatal)
				assert.Contains(t, rec.skipped, "testkit: Redis did not answer at redis://127.0.0.1:1")
			}
		})
	}
}

// Each helper, pointed by its variable at a port where nothing listens, must skip (CI unset)
// quickly, and never fall back to a container: the variable asked for that server.
func TestUnreachableBackendSkips(t *testing.T) {
	t.Setenv("CI", "")
	for _, tc := range []struct {
		envVar, value string
		use           func(testing.TB)
	}{
		{"REDIS_URL", "redis://127.0.0.1:1", func(t testing.TB) { Redis(t) }},
		{"DATABASE_URL", "postgres://postgres@127.0.0.1:1/postgres", func(t testing.TB) { Postgres(t) }},
		{"KAFKA_BROKERS", "127.0.0.1:1", func(t testing.TB) { Kafka(t, "topic") }},
		{"S3_ENDPOINT", "http://127.0.0.1:1", func(t testing.TB) { S3(t, "bucket") }},
	} {
		t.Run(tc.envVar, func(t *testing.T) {
			t.Setenv(tc.envVar, tc.value)
			start := time.Now()
			var sub *testing.T
			t.Run("want_skip", func(t *testing.T) {
				sub = t
				tc.use(t)
				t.Error("helper returned although nothing answers")
			})
			assert.True(t, sub.Skipped(), "subtest was not skipped")
			assert.Less(t, time.Since(start), 3*probeTimeout, "an absent backend must cost seconds")

			// The same call under CI fails with a message that says what to do.
			t.Setenv("CI", "true")
			rec := &recordingTB{TB: t}
			tc.use(rec)
			assert.Empty(t, rec.skipped)
			assert.Contains(t, rec.fatal, tc.envVar)
			assert.Contains(t, rec.fatal, strings.TrimPrefix(tc.value, "http://"))
			t.Setenv("CI", "")
		})
	}
}

func TestRedisMessageSaysHowToStart(t *testing.T) {
	t.Setenv("CI", "")
	t.Setenv("REDIS_URL", "redis://127.0.0.1:1")
	rec := &recordingTB{TB: t}
	env := Redis(rec)
	assert.Nil(t, env.Client)
	for _, want := range []string{"Redis", "redis://127.0.0.1:1", "REDIS_URL", "redis-server --daemonize yes"} {
		assert.Contains(t, rec.skipped, want)
	}
}

// reach tries the variable, then the default, then a container — but a set variable never
// falls back.
func TestReachFallsBackOnlyWhenUnset(t *testing.T) {
	t.Setenv("CI", "")
	const envVar = "TESTKIT_TEST_URL"
	var starts int
	newService := func() service {
		return service{
			name: "Thing", envVar: envVar, defaultURL: "thing://default", howToStart: "thingd &",
			probe: func(_ context.Context, u string) error {
				if u == "thing://container" {
					return nil
				}
				return errors.New("connection refused")
			},
			container: &sharedContainer{start: func(context.Context) (string, error) {
				starts++
				return "thing://container", nil
			}},
		}
	}

	t.Run("unset uses a container", func(t *testing.T) {
		os.Unsetenv(envVar)
		s := newService()
		u, ok := reach(&recordingTB{TB: t}, s)
		require.True(t, ok)
		assert.Equal(t, "thing://container", u)
		_, _ = reach(t, s)
		assert.Equal(t, 1, starts, "the container is started once and shared")
	})
	t.Run("set never falls back", func(t *testing.T) {
		t.Setenv(envVar, "thing://elsewhere")
		starts = 0
		rec := &recordingTB{TB: t}
		_, ok := reach(rec, newService())
		assert.False(t, ok)
		assert.Zero(t, starts)
		assert.Contains(t, rec.skipped, "thing://elsewhere")
		assert.Contains(t, rec.skipped, "thingd &")
	})
	t.Run("container error is reported", func(t *testing.T) {
		os.Unsetenv(envVar)
		s := newService()
		s.container = &sharedContainer{start: func(context.Context) (string, error) {
			return "", errors.New("no Docker engine answered")
		}}
		rec := &recordingTB{TB: t}
		_, ok := reach(rec, s)
		assert.False(t, ok)
		for _, want := range []string{"thing://default", envVar, "no Docker engine answered", "thingd &"} {
			assert.Contains(t, rec.skipped, want)
		}
	})
}

func TestDockerProbeIsBoundedAndCached(t *testing.T) {
	start := time.Now()
	err := dockerAnswers()
	first := time.Since(start)
	start = time.Now()
	err2 := dockerAnswers()
	second := time.Since(start)
	t.Logf("docker probe: %v (first call %v, cached call %v)", err, first, second)
	assert.Equal(t, err, err2)
	assert.Less(t, first, dockerProbeTimeout+time.Second)
	assert.Less(t, second, time.Millisecond)
}

func TestNames(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "TestX_sub_case_1", slug("TestX/sub case#1", 80))
	assert.Equal(t, "abc", slug("abc/def", 4))
	assert.Equal(t, "t", slug("///", 10))
	assert.Equal(t, `test:a\*b\?\[c\]\\:`, globEscape(`test:a*b?[c]\:`))
	assert.Equal(t, "postgres://u:xxxxx@h:5432/db", redact("postgres://u:secret@h:5432/db"))
	assert.Equal(t, "host=h password=xxxxx dbname=d", redact("host=h password=secret dbname=d"))
	assert.Equal(t, "postgres://u@h:5432/other?sslmode=disable", withDatabase("postgres://u@h:5432/db?sslmode=disable", "other"))
	assert.Equal(t, "host=h dbname=db dbname=other", withDatabase("host=h dbname=db", "other"))
}
