package rules

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/limit"
)

// The examples of envoyproxy/ratelimit's README ("Examples" under "The configuration format"),
// each with the outcomes the README describes.

func mustParse(t *testing.T, doc string) *Set {
	t.Helper()
	s, err := Parse("test.yaml", []byte(doc))
	require.NoError(t, err)
	return s
}

// desc builds a descriptor from key, value pairs.
func desc(kv ...string) []Entry {
	out := make([]Entry, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, Entry{Key: kv[i], Value: kv[i+1]})
	}
	return out
}

// want checks that d matches a rule of requests per period, and returns the rule and key.
func want(t *testing.T, s *Set, domain string, d []Entry, requests int64, period time.Duration) (*Rule, string) {
	t.Helper()
	r, key, ok := s.Match(domain, d)
	require.True(t, ok, "%v should match a rule", d)
	assert.Equal(t, requests, r.Limit.Requests, "requests of %v", d)
	assert.Equal(t, period, r.Limit.Period, "period of %v", d)
	assert.Equal(t, limit.FixedWindow, r.Limit.Algorithm, "envoy's rules are fixed windows")
	assert.Empty(t, r.FailureMode, "envoy's rules name no failure mode: the service's default applies")
	assert.NotEmpty(t, key)
	return r, key
}

func none(t *testing.T, s *Set, domain string, d []Entry) {
	t.Helper()
	r, key, ok := s.Match(domain, d)
	assert.False(t, ok, "%v should match no rule, got %v", d, r)
	assert.Nil(t, r)
	assert.Empty(t, key)
}

func TestEnvoyExample1KeyValue(t *testing.T) {
	t.Parallel()
	s := mustParse(t, `
domain: mongo_cps
descriptors:
  - key: database
    value: users
    rate_limit:
      unit: second
      requests_per_unit: 500

  - key: database
    value: default
    rate_limit:
      unit: second
      requests_per_unit: 500
`)
	_, users := want(t, s, "mongo_cps", desc("database", "users"), 500, time.Second)
	_, def := want(t, s, "mongo_cps", desc("database", "default"), 500, time.Second)
	assert.NotEqual(t, users, def, "two rules, two counters")
	none(t, s, "mongo_cps", desc("database", "orders"))
	none(t, s, "other_domain", desc("database", "users"))
	assert.Equal(t, []string{"mongo_cps"}, s.Domains())
	assert.Equal(t, 2, s.Len())
}

func TestEnvoyExample2NestedAndPerValue(t *testing.T) {
	t.Parallel()
	s := mustParse(t, `
domain: messaging
descriptors:
  # Only allow 5 marketing messages a day
  - key: message_type
    value: marketing
    descriptors:
      - key: to_number
        rate_limit:
          unit: day
          requests_per_unit: 5

  # Only allow 100 messages a day to any unique phone number
  - key: to_number
    rate_limit:
      unit: day
      requests_per_unit: 100
`)
	day := 24 * time.Hour
	// (message_type, marketing),(to_number, X): 5 a day, each number its own limit.
	r1, k1 := want(t, s, "messaging", desc("message_type", "marketing", "to_number", "2061111111"), 5, day)
	r2, k2 := want(t, s, "messaging", desc("message_type", "marketing", "to_number", "2062222222"), 5, day)
	assert.Same(t, r1, r2, "one rule")
	assert.NotEqual(t, k1, k2, "a key-only node limits each value apart")
	assert.Equal(t, "message_type=marketing > to_number", r1.Path)

	// (to_number, X): 100 a day per number.
	_, k3 := want(t, s, "messaging", desc("to_number", "2061111111"), 100, day)
	_, k4 := want(t, s, "messaging", desc("to_number", "2062222222"), 100, day)
	assert.NotEqual(t, k3, k4)
	assert.NotEqual(t, k1, k3)

	// The placeholder level has no limit of its own; other message types match nothing.
	none(t, s, "messaging", desc("message_type", "marketing"))
	none(t, s, "messaging", desc("message_type", "transactional", "to_number", "2061111111"))

	// Both descriptors of the README's request apply.
	res := s.MatchAll("messaging", [][]Entry{
		desc("message_type", "marketing", "to_number", "2061111111"),
		desc("to_number", "2061111111"),
	})
	require.Len(t, res, 2)
	assert.Equal(t, int64(5), res[0].Rule.Limit.Requests)
	assert.Equal(t, int64(100), res[1].Rule.Limit.Requests)
	assert.Equal(t, k1, res[0].Key)
	assert.Equal(t, k3, res[1].Key)
}

func TestEnvoyExample3MostSpecificFirstAndBlocklist(t *testing.T) {
	t.Parallel()
	s := mustParse(t, `
domain: edge_proxy_per_ip
descriptors:
  - key: remote_address
    rate_limit:
      unit: second
      requests_per_unit: 10

  # Black list IP
  - key: remote_address
    value: 50.0.0.5
    rate_limit:
      unit: second
      requests_per_unit: 0
`)
	r, _ := want(t, s, "edge_proxy_per_ip", desc("remote_address", "50.0.0.1"), 10, time.Second)
	assert.False(t, r.DenyAll)

	// key/value is attempted before key alone, and 0 requests blocks the address.
	blocked, _, ok := s.Match("edge_proxy_per_ip", desc("remote_address", "50.0.0.5"))
	require.True(t, ok)
	assert.True(t, blocked.DenyAll)
	assert.Equal(t, int64(0), blocked.Limit.Requests)
	assert.Equal(t, time.Second, blocked.Limit.Period)
}

func TestEnvoyExample4DepthMustMatch(t *testing.T) {
	t.Parallel()
	shallow := mustParse(t, `
domain: example4
descriptors:
  - key: key
    value: value
    rate_limit:
      requests_per_unit: 300
      unit: second
`)
	none(t, shallow, "example4", desc("key", "value", "subkey", "subvalue"))
	want(t, shallow, "example4", desc("key", "value"), 300, time.Second)

	deep := mustParse(t, `
domain: example4
descriptors:
  - key: key
    value: value
    descriptors:
      - key: subkey
        rate_limit:
          requests_per_unit: 300
          unit: second
`)
	want(t, deep, "example4", desc("key", "value", "subkey", "subvalue"), 300, time.Second)
	none(t, deep, "example4", desc("key", "value"))
}

func TestEnvoyExample5Unlimited(t *testing.T) {
	t.Parallel()
	s := mustParse(t, `
domain: internal
descriptors:
  - key: ldap
    rate_limit:
      unlimited: true

  - key: azure
    rate_limit:
      unit: minute
      requests_per_unit: 100
`)
	r, _, ok := s.Match("internal", desc("ldap", "any"))
	require.True(t, ok, "an unlimited descriptor is distinguishable from one that does not exist")
	assert.True(t, r.Unlimited)
	assert.Equal(t, limit.Limit{}, r.Limit)
	az, _ := want(t, s, "internal", desc("azure", "x"), 100, time.Minute)
	assert.False(t, az.Unlimited)
	none(t, s, "internal", desc("gcp", "x"))
}

func TestEnvoyExample6ShadowMode(t *testing.T) {
	t.Parallel()
	s := mustParse(t, `
domain: example6
descriptors:
  - key: service
    descriptors:
      - key: user
        value: user-a
        rate_limit:
          requests_per_unit: 10
          unit: second
        shadow_mode: true
      - key: user
        value: user-b
        rate_limit:
          requests_per_unit: 20
          unit: second
`)
	a, _ := want(t, s, "example6", desc("service", "auth-service", "user", "user-a"), 10, time.Second)
	assert.True(t, a.ShadowMode)
	b, _ := want(t, s, "example6", desc("service", "auth-service", "user", "user-b"), 20, time.Second)
	assert.False(t, b.ShadowMode)
	none(t, s, "example6", desc("service", "auth-service", "user", "user-c"))
}

func TestEnvoyExample7Replaces(t *testing.T) {
	t.Parallel()
	s := mustParse(t, `
domain: example7
descriptors:
  - key: key_1
    value: value_1
    descriptors:
      - key: user
        value: bkthomps
        rate_limit:
          name: specific_limit
          requests_per_unit: 5
          unit: second
  - key: key_2
    value: value_2
    descriptors:
      - key: user
        value: bkthomps
        rate_limit:
          replaces:
            - name: specific_limit
          requests_per_unit: 10
          unit: second
`)
	d1 := desc("key_1", "value_1", "user", "bkthomps")
	d2 := desc("key_2", "value_2", "user", "bkthomps")

	// Alone, each keeps its own limit.
	only1 := s.MatchAll("example7", [][]Entry{d1})
	require.NotNil(t, only1[0].Rule)
	assert.Equal(t, int64(5), only1[0].Rule.Limit.Requests)
	only2 := s.MatchAll("example7", [][]Entry{d2})
	assert.Equal(t, int64(10), only2[0].Rule.Limit.Requests)

	// Together, the 5/s rule is replaced: only 10/s applies, and the 5/s counter is untouched.
	both := s.MatchAll("example7", [][]Entry{d1, d2})
	require.Len(t, both, 2)
	assert.Nil(t, both[0].Rule)
	assert.Empty(t, both[0].Key)
	require.NotNil(t, both[0].Replaced)
	assert.Equal(t, "specific_limit", both[0].Replaced.Name)
	require.NotNil(t, both[1].Rule)
	assert.Equal(t, int64(10), both[1].Rule.Limit.Requests)
	assert.Equal(t, []string{"specific_limit"}, both[1].Rule.Replaces)
}

func TestEnvoyExample8DetailedMetric(t *testing.T) {
	t.Parallel()
	s := mustParse(t, `
domain: example8
descriptors:
  - key: key1
    detailed_metric: true
    rate_limit:
      unit: minute
      requests_per_unit: 10
  - key: key1
    value: value1
    rate_limit:
      unit: minute
      requests_per_unit: 20
`)
	r, k1 := want(t, s, "example8", desc("key1", "unspecified_value"), 10, time.Minute)
	assert.True(t, r.DetailedMetric)
	_, k2 := want(t, s, "example8", desc("key1", "unspecified_value2"), 10, time.Minute)
	assert.NotEqual(t, k1, k2)
	v1, _ := want(t, s, "example8", desc("key1", "value1"), 20, time.Minute)
	assert.False(t, v1.DetailedMetric)
}

func TestEnvoyExample9Wildcard(t *testing.T) {
	t.Parallel()
	s := mustParse(t, `
domain: example9
descriptors:
  - key: key1
    value: value*
    rate_limit:
      unit: minute
      requests_per_unit: 20
`)
	_, k1 := want(t, s, "example9", desc("key1", "value_1"), 20, time.Minute)
	_, k2 := want(t, s, "example9", desc("key1", "value_2"), 20, time.Minute)
	assert.NotEqual(t, k1, k2, "without share_threshold, each value matched by a wildcard has its own counter")
	want(t, s, "example9", desc("key1", "value"), 20, time.Minute)
	none(t, s, "example9", desc("key1", "other"))
	none(t, s, "example9", desc("key2", "value_1"))
}

// share_threshold (newer envoy ratelimit): all values matched by the wildcard share one counter.
func TestEnvoyShareThreshold(t *testing.T) {
	t.Parallel()
	s := mustParse(t, `
domain: files
descriptors:
  - key: files
    value: files/*
    share_threshold: true
    rate_limit:
      unit: hour
      requests_per_unit: 10
  - key: path
    value: /api/*
    share_threshold: true
    descriptors:
      - key: user
        rate_limit:
          unit: minute
          requests_per_unit: 3
`)
	_, a := want(t, s, "files", desc("files", "files/a.pdf"), 10, time.Hour)
	_, b := want(t, s, "files", desc("files", "files/b.csv"), 10, time.Hour)
	assert.Equal(t, a, b)
	assert.Equal(t, "files|files=files/*#", a[:len(a)-8])

	// Shared at the wildcard level, per value below it.
	_, u1 := want(t, s, "files", desc("path", "/api/x", "user", "u1"), 3, time.Minute)
	_, u1b := want(t, s, "files", desc("path", "/api/y", "user", "u1"), 3, time.Minute)
	_, u2 := want(t, s, "files", desc("path", "/api/x", "user", "u2"), 3, time.Minute)
	assert.Equal(t, u1, u1b)
	assert.NotEqual(t, u1, u2)
}

// Matching quirks kept from envoy's config_impl.go, so that a config behaves the same here.
func TestEnvoyMatchingOrder(t *testing.T) {
	t.Parallel()
	s := mustParse(t, `
domain: order
descriptors:
  - key: k
    rate_limit: {unit: second, requests_per_unit: 1}
  - key: k
    value: val*
    rate_limit: {unit: second, requests_per_unit: 2}
  - key: k
    value: value*
    rate_limit: {unit: second, requests_per_unit: 3}
  - key: k
    value: value1
    rate_limit: {unit: second, requests_per_unit: 4}
  - key: tenant
    value: acme
    descriptors:
      - key: user
        value: root
        rate_limit: {unit: second, requests_per_unit: 5}
  - key: tenant
    descriptors:
      - key: user
        rate_limit: {unit: second, requests_per_unit: 6}
  - key: mid
    rate_limit: {unit: second, requests_per_unit: 7}
    descriptors:
      - key: leaf
        rate_limit: {unit: second, requests_per_unit: 8}
`)
	want(t, s, "order", desc("k", "value1"), 4, time.Second) // exact first
	want(t, s, "order", desc("k", "value2"), 2, time.Second) // then the first wildcard in file order
	want(t, s, "order", desc("k", "other"), 1, time.Second)  // then key only
	want(t, s, "order", desc("k", ""), 1, time.Second)       // an empty value is a value
	want(t, s, "order", desc("tenant", "zzz", "user", "x"), 6, time.Second)
	want(t, s, "order", desc("tenant", "acme", "user", "root"), 5, time.Second)
	// No backtracking: (tenant, acme) is found, then (user, bob) is not under it; envoy does not
	// fall back to the key-only tenant node.
	none(t, s, "order", desc("tenant", "acme", "user", "bob"))
	// A node with a limit and children: each depth has its own rule.
	want(t, s, "order", desc("mid", "a"), 7, time.Second)
	want(t, s, "order", desc("mid", "a", "leaf", "b"), 8, time.Second)
	none(t, s, "order", desc("mid", "a", "other", "b"))
	none(t, s, "order", nil)
}

// Envoy indexes nodes by key+"_"+value and matches wildcards on that string. Kept as is, so a
// config means the same here; this is why two descriptors whose key_value strings are equal are
// rejected as duplicates (see the validation tests).
func TestEnvoyUnderscoreIndex(t *testing.T) {
	t.Parallel()
	s := mustParse(t, `
domain: quirk
descriptors:
  - key: a
    value: b*
    rate_limit: {unit: second, requests_per_unit: 1}
`)
	want(t, s, "quirk", desc("a", "bc"), 1, time.Second)
	want(t, s, "quirk", desc("a_b", "c"), 1, time.Second) // "a_b_c" starts with "a_b", as in envoy
	none(t, s, "quirk", desc("a", "c"))
}

func TestEnvoyUnitsAndSpellings(t *testing.T) {
	t.Parallel()
	s := mustParse(t, `
domain: units
descriptors:
  - {key: s, rate_limit: {unit: SECOND, requests_per_unit: 1}}
  - {key: m, rate_limit: {unit: Minute, requests_per_unit: 1}}
  - {key: h, rate_limit: {unit: hour, requests_per_unit: 1}}
  - {key: d, rate_limit: {unit: day, requests_per_unit: 1}}
  - {key: w, rate_limit: {unit: week, requests_per_unit: 1}}
  - {key: mo, rate_limit: {unit: month, requests_per_unit: 1}}
  - {key: y, rate_limit: {unit: year, requests_per_unit: 0x10}}
  - key: yes
    value: 42
    shadow_mode: yes
    rate_limit: &lim {unit: second, requests_per_unit: 9}
  - key: alias
    rate_limit: *lim
  - key: merged
    rate_limit:
      <<: *lim
      requests_per_unit: 11
`)
	for k, p := range map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour, "d": 24 * time.Hour,
		"w": 7 * 24 * time.Hour, "mo": 30 * 24 * time.Hour} {
		want(t, s, "units", desc(k, "x"), 1, p)
	}
	want(t, s, "units", desc("y", "x"), 16, 365*24*time.Hour)
	r, _ := want(t, s, "units", desc("yes", "42"), 9, time.Second)
	assert.True(t, r.ShadowMode, "yaml.v2 (envoy) reads yes as true")
	want(t, s, "units", desc("alias", "x"), 9, time.Second)
	want(t, s, "units", desc("merged", "x"), 11, time.Second)
}
