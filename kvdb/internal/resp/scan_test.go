package resp

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGlobMatch(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"", "", true},
		{"", "a", false},
		{"*", "", false}, // Redis: only the empty pattern matches the empty string
		{"*", "anything", true},
		{"user:*", "user:1", true},
		{"user:*", "user:", true},
		{"user:*", "use", false},
		{"*:1", "user:1", true},
		{"*:1", "user:12", false},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXbYY", false},
		{"a*a*a*a*b", strings.Repeat("a", 60), false},
		{"h?llo", "hello", true},
		{"h?llo", "hllo", false},
		{"h[ae]llo", "hallo", true},
		{"h[ae]llo", "hillo", false},
		{"h[^e]llo", "hallo", true},
		{"h[^e]llo", "hello", false},
		{"h[a-c]llo", "hbllo", true},
		{"h[c-a]llo", "hbllo", true}, // reversed range
		{"h[a-c]llo", "hdllo", false},
		{"h[]llo", "hello", false}, // an empty class matches nothing
		{"x[\\]]", "x]", true},
		{"x[ab", "xb", true}, // unterminated class runs to the end
		{"x[ab", "xbb", false},
		{"a\\*b", "a*b", true},
		{"a\\*b", "aXb", false},
		{"a\\", "a\\", true}, // trailing backslash is literal
		{"\\?", "?", true},
		{"*\\*", "abc*", true},
	} {
		assert.Equal(t, tc.want, globMatch([]byte(tc.pattern), []byte(tc.s)), "%q ~ %q", tc.pattern, tc.s)
	}
}

// redisMatch is a direct, recursive port of Redis's stringmatchlen (util.c), the reference
// globMatch must agree with.
func redisMatch(p, s []byte) bool {
	for len(p) > 0 && len(s) > 0 {
		switch p[0] {
		case '*':
			for len(p) > 1 && p[1] == '*' {
				p = p[1:]
			}
			if len(p) == 1 {
				return true
			}
			for len(s) > 0 {
				if redisMatch(p[1:], s) {
					return true
				}
				s = s[1:]
			}
			return false
		case '?':
			s = s[1:]
		case '[':
			p = p[1:]
			not := len(p) > 0 && p[0] == '^'
			if not {
				p = p[1:]
			}
			match := false
			for {
				if len(p) >= 2 && p[0] == '\\' {
					p = p[1:]
					if p[0] == s[0] {
						match = true
					}
				} else if len(p) == 0 {
					break
				} else if p[0] == ']' {
					break
				} else if len(p) >= 3 && p[1] == '-' {
					lo, hi := p[0], p[2]
					if lo > hi {
						lo, hi = hi, lo
					}
					p = p[2:]
					if s[0] >= lo && s[0] <= hi {
						match = true
					}
				} else if p[0] == s[0] {
					match = true
				}
				p = p[1:]
			}
			if not {
				match = !match
			}
			if !match {
				return false
			}
			s = s[1:]
			if len(p) == 0 {
				return len(s) == 0
			}
		case '\\':
			if len(p) >= 2 {
				p = p[1:]
			}
			fallthrough
		default:
			if p[0] != s[0] {
				return false
			}
			s = s[1:]
		}
		p = p[1:]
		if len(s) == 0 {
			for len(p) > 0 && p[0] == '*' {
				p = p[1:]
			}
			break
		}
	}
	return len(p) == 0 && len(s) == 0
}

// Property: on random patterns over a small alphabet, globMatch agrees with Redis's algorithm.
func TestGlobMatchAgreesWithRedis(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	pick := func(alphabet string, n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return b
	}
	for range 200000 {
		p := pick("ab*?[]^-\\", rng.IntN(8))
		s := pick("ab-]", rng.IntN(6))
		require.Equal(t, redisMatch(p, s), globMatch(p, s), "%q ~ %q", p, s)
	}
}

func TestGlobPrefix(t *testing.T) {
	t.Parallel()
	for pattern, want := range map[string]string{
		"":        "",
		"user:*":  "user:",
		"user:1":  "user:1",
		"u?er":    "u",
		"[ab]*":   "",
		"a\\*b*":  "a",
		"*suffix": "",
	} {
		assert.Equal(t, want, string(globPrefix([]byte(pattern))), pattern)
	}
}

func TestCursorTable(t *testing.T) {
	t.Parallel()
	tab := newCursorTable(3, 1<<20)
	id := tab.put([]byte("key:1"))
	assert.NotZero(t, id, "0 means done")
	assert.Less(t, id, uint64(1<<63))
	assert.Equal(t, id, tab.put([]byte("key:1")), "same position, same cursor")
	got, ok := tab.get(id)
	require.True(t, ok)
	assert.Equal(t, "key:1", string(got))
	got[0] = 'X'
	got, _ = tab.get(id)
	assert.Equal(t, "key:1", string(got), "get returns a copy")

	ids := []uint64{id}
	for i := 2; i <= 4; i++ {
		ids = append(ids, tab.put(fmt.Appendf(nil, "key:%d", i)))
	}
	_, ok = tab.get(ids[0])
	assert.False(t, ok, "the least recently used cursor was evicted")
	for _, id := range ids[1:] {
		_, ok := tab.get(id)
		assert.True(t, ok)
	}

	small := newCursorTable(100, 10)
	a := small.put([]byte("aaaaaa"))
	b := small.put([]byte("bbbbbb"))
	_, ok = small.get(a)
	assert.False(t, ok, "evicted by the byte bound")
	_, ok = small.get(b)
	assert.True(t, ok, "the newest cursor stays even alone over the bound")
}
