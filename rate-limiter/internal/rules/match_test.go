package rules

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/limit"
)

const keysDoc = `
domain: api
descriptors:
  - key: tenant
    descriptors:
      - key: user
        rate_limit: {unit: minute, requests_per_unit: 100}
  - key: path
    rate_limit: {unit: second, requests_per_unit: 5}
`

func TestLimiterKeyFormat(t *testing.T) {
	t.Parallel()
	s := mustParse(t, keysDoc)
	r, key, ok := s.Match("api", desc("tenant", "acme", "user", "bob"))
	require.True(t, ok)
	assert.Equal(t, "api|tenant=acme|user=bob#"+r.Version(), key)
	assert.Len(t, r.Version(), 8)

	// Same input, same key: keys are stable across parses of the same text.
	_, again, _ := mustParse(t, keysDoc).Match("api", desc("tenant", "acme", "user", "bob"))
	assert.Equal(t, key, again)
}

func TestLimiterKeyIsInjective(t *testing.T) {
	t.Parallel()
	s := mustParse(t, keysDoc)
	// Each pair would collide under a naive join of domain, keys and values.
	pairs := [][2][]Entry{
		{desc("path", "a|path=b"), desc("path", "a%7Cpath%3Db")},
		{desc("path", "a#1"), desc("path", "a%231")},
		{desc("path", "{slot}"), desc("path", "%7Bslot%7D")},
		{desc("path", "a b"), desc("path", "a%20b")},
		{desc("path", "x\n"), desc("path", "x%0A")},
	}
	for _, p := range pairs {
		_, k1, ok1 := s.Match("api", p[0])
		_, k2, ok2 := s.Match("api", p[1])
		require.True(t, ok1)
		require.True(t, ok2)
		assert.NotEqual(t, k1, k2, "%q vs %q", p[0], p[1])
		for _, c := range []string{"{", "}", " ", "\n"} {
			assert.NotContains(t, k1, c)
		}
	}
	_, k, _ := s.Match("api", desc("tenant", "a|b=c", "user", "{x}"))
	assert.True(t, strings.HasPrefix(k, "api|tenant=a%7Cb%3Dc|user=%7Bx%7D#"), k)
}

// The key carries the limit's version: unchanged limits keep their counters across a reload,
// changed ones start fresh.
func TestLimiterKeyVersion(t *testing.T) {
	t.Parallel()
	d := desc("tenant", "acme", "user", "bob")
	_, base, _ := mustParse(t, keysDoc).Match("api", d)

	unrelated := strings.Replace(keysDoc, "requests_per_unit: 5}", "requests_per_unit: 6}", 1) +
		"  - key: other\n    rate_limit: {unit: hour, requests_per_unit: 1}\n"
	_, same, _ := mustParse(t, unrelated).Match("api", d)
	assert.Equal(t, base, same, "editing other rules must not reset this one's counters")

	shadow := strings.Replace(keysDoc, "requests_per_unit: 100}", "requests_per_unit: 100}\n        shadow_mode: true", 1)
	_, sameShadow, _ := mustParse(t, shadow).Match("api", d)
	assert.Equal(t, base, sameShadow, "shadow_mode does not change what the store holds")

	for name, edit := range map[string]string{
		"requests":  "{unit: minute, requests_per_unit: 101}",
		"period":    "{unit: hour, requests_per_unit: 100}",
		"algorithm": "{unit: minute, requests_per_unit: 100, algorithm: sliding_window}",
		"burst":     "{unit: minute, requests_per_unit: 100, algorithm: gcra, burst: 20}",
	} {
		changed := strings.Replace(keysDoc, "{unit: minute, requests_per_unit: 100}", edit, 1)
		_, k, ok := mustParse(t, changed).Match("api", d)
		require.True(t, ok, name)
		assert.NotEqual(t, base, k, "changing %s must change the key", name)
		assert.Equal(t, strings.Split(base, "#")[0], strings.Split(k, "#")[0], name)
	}
}

func TestExtensions(t *testing.T) {
	t.Parallel()
	s := mustParse(t, `
domain: ext
descriptors:
  - key: a
    rate_limit:
      unit: second
      requests_per_unit: 10
      algorithm: token_bucket
      burst: 50
      failure_mode: closed
  - key: b
    rate_limit:
      unit: minute
      requests_per_unit: 3
      algorithm: concurrency
      failure_mode: local
  - key: c
    rate_limit: {unit: minute, requests_per_unit: 3, failure_mode: error}
`)
	a, _, ok := s.Match("ext", desc("a", "1"))
	require.True(t, ok)
	assert.Equal(t, limit.Limit{Algorithm: limit.TokenBucket, Requests: 10, Period: time.Second, Burst: 50}, a.Limit)
	assert.Equal(t, FailClosed, a.FailureMode)
	require.NoError(t, a.Limit.Validate())

	b, _, ok := s.Match("ext", desc("b", "1"))
	require.True(t, ok)
	assert.Equal(t, limit.Concurrency, b.Limit.Algorithm)
	assert.Equal(t, FailLocal, b.FailureMode)
	c, _, ok := s.Match("ext", desc("c", "1"))
	require.True(t, ok)
	assert.Equal(t, FailError, c.FailureMode)
	assert.Equal(t, "ext a: 10/second token_bucket burst 50 (test.yaml:4)", a.String())
}

func TestApplyReplaces(t *testing.T) {
	t.Parallel()
	read := &Rule{Name: "read"}
	write := &Rule{Name: "write"}
	special := &Rule{Name: "special", Replaces: []string{"read"}}
	unlimited := &Rule{Unlimited: true, Replaces: []string{"write"}}
	unnamed := &Rule{}

	in := []*Rule{read, nil, write, special, unnamed}
	assert.Equal(t, []*Rule{nil, nil, write, special, unnamed}, ApplyReplaces(in))
	assert.Equal(t, []*Rule{read, nil, write, special, unnamed}, in, "the input is not modified")
	// Replaces of an unlimited rule count too, as in envoy.
	assert.Equal(t, []*Rule{read, nil, unlimited}, ApplyReplaces([]*Rule{read, write, unlimited}))
	// Without the replacing rule in the request, nothing is dropped.
	assert.Equal(t, []*Rule{read, write}, ApplyReplaces([]*Rule{read, write}))
	assert.Empty(t, ApplyReplaces(nil))
}

func TestListJSON(t *testing.T) {
	t.Parallel()
	s := mustParse(t, `
domain: api
descriptors:
  - key: tenant
    value: acme
    descriptors:
      - key: user
        shadow_mode: true
        rate_limit: {unit: minute, requests_per_unit: 100, name: per_user, algorithm: gcra, burst: 10}
  - key: internal
    rate_limit: {unlimited: true, replaces: [{name: per_user}]}
`)
	out, err := json.Marshal(s.List())
	require.NoError(t, err)
	var got []map[string]any
	require.NoError(t, json.Unmarshal(out, &got))
	require.Len(t, got, 2)
	assert.Equal(t, map[string]any{
		"domain":            "api",
		"name":              "per_user",
		"path":              "tenant=acme > user",
		"descriptor":        []any{map[string]any{"key": "tenant", "value": "acme"}, map[string]any{"key": "user", "value": ""}},
		"algorithm":         "gcra",
		"requests_per_unit": float64(100),
		"unit":              "minute",
		"period_seconds":    float64(60),
		"burst":             float64(10),
		"unlimited":         false,
		"deny_all":          false,
		"shadow_mode":       true,
		"failure_mode":      "", // as written: none (the service fills in its default)
		"detailed_metric":   false,
		"value_to_metric":   false,
		"version":           s.Rules()[0].Version(),
		"file":              "test.yaml",
		"line":              float64(7),
	}, got[0])
	assert.Equal(t, true, got[1]["unlimited"])
	assert.Equal(t, []any{"per_user"}, got[1]["replaces"])

	// A Rule marshals as its Info.
	one, err := json.Marshal(s.Rules()[0])
	require.NoError(t, err)
	assert.Contains(t, string(one), `"path":"tenant=acme \u003e user"`)
}

func TestNilSet(t *testing.T) {
	t.Parallel()
	var s *Set
	_, _, ok := s.Match("api", desc("a", "b"))
	assert.False(t, ok)
	assert.Equal(t, 0, s.Len())
	assert.Empty(t, s.List())
	res := s.MatchAll("api", [][]Entry{desc("a", "b")})
	assert.Equal(t, []Result{{}}, res)
}

func BenchmarkMatch(b *testing.B) {
	s, err := Parse("bench.yaml", []byte(`
domain: api
descriptors:
  - key: tenant
    value: acme
    descriptors:
      - key: path
        value: /v1/*
        descriptors:
          - key: user
            rate_limit: {unit: second, requests_per_unit: 10}
`))
	require.NoError(b, err)
	d := desc("tenant", "acme", "path", "/v1/orders", "user", "u-123")
	b.ReportAllocs()
	for b.Loop() {
		if _, _, ok := s.Match("api", d); !ok {
			b.Fatal("no match")
		}
	}
}
