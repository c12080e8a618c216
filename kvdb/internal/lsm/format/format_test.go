package format

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestInternalKeyRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		user []byte
		seq  uint64
		kind Kind
	}{
		{"empty user key", nil, 0, KindDelete},
		{"set", []byte("hello"), 42, KindSet},
		{"ttl max seq", []byte("k"), MaxSeq, KindSetTTL},
		{"binary key", []byte{0, 0xff, 0}, 1 << 40, KindSet},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			prefix := []byte("prefix")
			ik := MakeInternalKey(slices.Clone(prefix), tc.user, tc.seq, tc.kind)
			require.Equal(t, prefix, ik[:len(prefix)], "MakeInternalKey must append")
			ik = ik[len(prefix):]
			require.Len(t, ik, len(tc.user)+TrailerLen)
			u, seq, kind, ok := ParseInternalKey(ik)
			require.True(t, ok)
			assert.Equal(t, string(tc.user), string(u))
			assert.Equal(t, tc.seq, seq)
			assert.Equal(t, tc.kind, kind)
			assert.Equal(t, string(tc.user), string(UserKey(ik)))
		})
	}
}

func TestParseInternalKeyRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ik   []byte
	}{
		{"nil", nil},
		{"short", []byte{1, 2, 3, 4, 5, 6, 7}},
		{"bad kind", append([]byte("k"), 0x07, 0, 0, 0, 0, 0, 0, 0)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, _, _, ok := ParseInternalKey(tc.ik)
			assert.False(t, ok)
		})
	}
	assert.Equal(t, []byte{1, 2}, UserKey([]byte{1, 2}), "short keys are returned unchanged")
}

func TestCompareInternal(t *testing.T) {
	t.Parallel()
	ik := func(u string, seq uint64, k Kind) []byte { return MakeInternalKey(nil, []byte(u), seq, k) }
	tests := []struct {
		name string
		a, b []byte
		want int
	}{
		{"user key ascending", ik("a", 1, KindSet), ik("b", 9, KindSet), -1},
		{"prefix user key first", ik("a", 1, KindSet), ik("ab", 1, KindSet), -1},
		{"newer seq first", ik("a", 9, KindSet), ik("a", 1, KindSet), -1},
		{"higher kind first", ik("a", 5, KindSetTTL), ik("a", 5, KindDelete), -1},
		{"equal", ik("a", 5, KindSet), ik("a", 5, KindSet), 0},
		{"older later", ik("a", 1, KindSet), ik("a", 2, KindDelete), 1},
		{"seq dominates kind", ik("a", 2, KindDelete), ik("a", 1, KindSetTTL), -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, CompareInternal(tc.a, tc.b))
			assert.Equal(t, -tc.want, CompareInternal(tc.b, tc.a))
		})
	}
}

// TestCompareInternalMatchesModel sorts random keys and checks the order against a model that
// compares the decoded fields one by one.
func TestCompareInternalMatchesModel(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	keys := make([][]byte, 2000)
	for i := range keys {
		u := make([]byte, rng.IntN(3))
		for j := range u {
			u[j] = byte(rng.IntN(3))
		}
		keys[i] = MakeInternalKey(nil, u, rng.Uint64N(4)<<rng.IntN(50), Kind(rng.IntN(3)))
	}
	slices.SortFunc(keys, CompareInternal)
	for i := 1; i < len(keys); i++ {
		ua, sa, ka, _ := ParseInternalKey(keys[i-1])
		ub, sb, kb, _ := ParseInternalKey(keys[i])
		c := bytes.Compare(ua, ub)
		switch {
		case c < 0:
		case c > 0:
			t.Fatalf("user keys out of order at %d: %q > %q", i, ua, ub)
		case sa < sb, sa == sb && ka < kb:
			t.Fatalf("versions out of order at %d: (%d,%d) before (%d,%d)", i, sa, ka, sb, kb)
		}
	}
}

func TestTTLValue(t *testing.T) {
	t.Parallel()
	v := EncodeTTLValue([]byte("x"), 1_700_000_000_123_456_789, []byte("payload"))
	exp, val, err := DecodeTTLValue(v[1:])
	require.NoError(t, err)
	assert.Equal(t, int64(1_700_000_000_123_456_789), exp)
	assert.Equal(t, "payload", string(val))
	assert.Equal(t, byte(0x17), v[1], "expiry is big-endian")

	exp, val, err = DecodeTTLValue(EncodeTTLValue(nil, -1, nil))
	require.NoError(t, err)
	assert.Equal(t, int64(-1), exp)
	assert.Empty(t, val)

	_, _, err = DecodeTTLValue([]byte{1, 2, 3})
	assert.True(t, errors.Is(err, ErrCorrupt))
}

func TestKindString(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "SET", KindSet.String())
	assert.Equal(t, "DEL", KindDelete.String())
	assert.Equal(t, "SETTTL", KindSetTTL.String())
	assert.Equal(t, "KIND(9)", Kind(9).String())
}
