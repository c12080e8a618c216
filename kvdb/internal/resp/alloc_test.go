package resp

import (
	"bufio"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fixedStore answers every call at once with a fixed value, so that an allocation measured
// around it is the server's own.
type fixedStore struct{}

var fixedValue = []byte("value")

func (fixedStore) Get([]byte) ([]byte, bool, error) { return fixedValue, true, nil }
func (fixedStore) MGet(dst []Value, keys [][]byte) ([]Value, error) {
	for range keys {
		dst = append(dst, Value{Bytes: fixedValue, Found: true})
	}
	return dst, nil
}
func (fixedStore) Set([]byte, []byte, SetOptions) (SetResult, error) {
	return SetResult{Written: true}, nil
}
func (fixedStore) MSet([][]byte) error                                { return nil }
func (fixedStore) Delete(keys [][]byte) (int, error)                  { return len(keys), nil }
func (fixedStore) Exists(keys [][]byte) (int, error)                  { return len(keys), nil }
func (fixedStore) Expire([]byte, time.Time, ExpireCond) (bool, error) { return true, nil }
func (fixedStore) ExpireTime([]byte) (time.Time, bool, error) {
	return time.Unix(2e9, 0), true, nil
}
func (fixedStore) Scan([]byte, []byte, int) ([][]byte, bool, error) { return nil, true, nil }

func argv(words ...string) [][]byte {
	out := make([][]byte, len(words))
	for i, w := range words {
		out[i] = []byte(w)
	}
	return out
}

// The per-command path (dispatch, argument parsing, store call, reply, metrics) must not
// allocate: at hundreds of thousands of commands per second, garbage is the cost that shows.
func TestCommandsDoNotAllocate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		store Store
	}{
		{"fixed store", fixedStore{}},
		{"memory store", NewMemStore(nil)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := New(tc.store, Options{})
			require.NoError(t, err)
			c := &conn{srv: srv, bw: bufio.NewWriterSize(io.Discard, 4096), authed: true}
			c.w = NewWriter(c.bw)
			if ms, ok := tc.store.(*MemStore); ok {
				_, err := ms.Set([]byte("key"), []byte("value"), SetOptions{ExpireAt: time.Now().Add(time.Hour)})
				require.NoError(t, err)
			}
			cmds := [][][]byte{
				argv("GET", "key"),
				argv("get", "missing"),
				argv("MGET", "key", "missing", "key"),
				argv("EXISTS", "key", "missing"),
				argv("TTL", "key"),
				argv("PTTL", "key"),
				argv("PING"),
				argv("ECHO", "hello"),
			}
			if _, ok := tc.store.(fixedStore); ok { // writes copy into a real store, by design
				cmds = append(cmds,
					argv("SET", "key", "value"),
					argv("SET", "key", "value", "EX", "100", "NX"),
					argv("DEL", "key", "other"),
					argv("EXPIRE", "key", "100", "GT"),
					argv("MSET", "a", "1", "b", "2"))
			}
			for _, cmd := range cmds {
				allocs := testing.AllocsPerRun(200, func() {
					c.execute(cmd)
					_ = c.bw.Flush()
				})
				assert.Zero(t, allocs, "%q", cmd)
				assert.False(t, c.failed, "%q replied with an error", cmd)
			}
		})
	}
}
