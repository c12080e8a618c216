package proxy

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// get sends GET / with the given X-Forwarded-For values (none: no header) and returns the status.
func get(t *testing.T, url string, xff ...string) int {
	t.Helper()
	req, err := http.NewRequest("GET", url+"/", nil)
	require.NoError(t, err)
	for _, v := range xff {
		req.Header.Add("X-Forwarded-For", v)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	return res.StatusCode
}

// With TRUSTED_PROXIES naming the test client's address (127.0.0.1), a request whose
// X-Forwarded-For yields no client address is limited by the TCP peer's address, as Envoy's
// remote_address does, instead of going unlimited. The per_ip rule admits 3 a minute.
func TestUnknownClientIPFallsBackToPeer(t *testing.T) {
	for _, c := range []struct {
		name string
		xff  []string
	}{
		{"absent", nil},
		{"empty", []string{""}},
		{"garbage", []string{"garbage"}},
		{"garbage right of a real address", []string{"203.0.113.7, garbage"}},
		{"only trusted", []string{"127.0.0.1"}},
		{"only trusted, two hops", []string{"127.0.0.1, 127.0.0.1"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			front := newProxyTrusting(t, "remote_address=ip", []string{"127.0.0.1/32"}, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			for i := range 3 {
				require.Equal(t, http.StatusOK, get(t, front.URL, c.xff...), "request %d", i+1)
			}
			assert.Equal(t, http.StatusTooManyRequests, get(t, front.URL, c.xff...), "the 4th from the same peer is over the per-IP limit")
			assert.Equal(t, http.StatusTooManyRequests, get(t, front.URL), "unknown origins share the peer's limit")
			assert.Equal(t, http.StatusOK, get(t, front.URL, "203.0.113.8"), "a known client has its own limit")
		})
	}
}

// For valid chains the client is still the rightmost untrusted address: entries left of it
// (which the client wrote) and trusted hops right of it do not change its limit.
func TestClientIPIsRightmostUntrusted(t *testing.T) {
	front := newProxyTrusting(t, "remote_address=ip", []string{"127.0.0.1/32", "10.0.0.0/8"}, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	chains := []string{
		"203.0.113.7",
		"198.51.100.1, 203.0.113.7",           // a spoofed entry left of the client
		"198.51.100.2, 203.0.113.7, 10.0.0.3", // and a trusted hop right of it
	}
	for i, xff := range chains {
		require.Equal(t, http.StatusOK, get(t, front.URL, xff), "request %d (%s)", i+1, xff)
	}
	for i := range 3 {
		assert.Equal(t, http.StatusTooManyRequests, get(t, front.URL, fmt.Sprintf("198.51.100.%d, 203.0.113.7", 10+i)),
			"203.0.113.7 has used its 3, whatever it writes to its left")
	}
	assert.Equal(t, http.StatusOK, get(t, front.URL, "203.0.113.7, 203.0.113.9"), "the rightmost untrusted entry is the client")
	assert.Equal(t, http.StatusOK, get(t, front.URL), "the peer's own limit is untouched")
}

// An untrusted peer is the client whatever X-Forwarded-For says.
func TestUntrustedPeerIgnoresXFF(t *testing.T) {
	front := newProxyTrusting(t, "remote_address=ip", []string{"10.0.0.0/8"}, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for i := range 3 {
		require.Equal(t, http.StatusOK, get(t, front.URL, fmt.Sprintf("203.0.113.%d", i)))
	}
	assert.Equal(t, http.StatusTooManyRequests, get(t, front.URL, "203.0.113.99"))
}
