package api

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/lsm"
)

// Expiries are int64 Unix nanoseconds in the engine, so they end at 2262-04-11. A TTL that
// reaches past that is clamped to it (as the RESP path clamps EX/PX), never wrapped into the
// past; a TTL that time.Duration cannot hold is refused. Single puts and batch puts agree.
func TestTTLEdges(t *testing.T) {
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	httpDate := func(t time.Time) string { return t.UTC().Format(http.TimeFormat) }
	cases := []struct {
		name   string
		ttl    string
		start  time.Time // zero: 2030-01-01
		status int       // of the write
		exp    time.Time // the Expires the write reports and GET repeats; zero: none
		lives  time.Duration
	}{
		{name: "none", ttl: "", status: http.StatusOK},
		{name: "zero", ttl: "0", status: http.StatusBadRequest},
		{name: "zero seconds", ttl: "0s", status: http.StatusBadRequest},
		{name: "negative", ttl: "-1s", status: http.StatusBadRequest},
		{name: "not a duration", ttl: "tomorrow", status: http.StatusBadRequest},
		{name: "one nanosecond", ttl: "1ns", status: http.StatusOK, exp: start.Add(time.Nanosecond), lives: time.Nanosecond},
		{name: "thirty seconds", ttl: "30s", status: http.StatusOK, exp: start.Add(30 * time.Second), lives: 30 * time.Second},
		{name: "just below the end", ttl: "2000000h", status: http.StatusOK, exp: start.Add(2000000 * time.Hour), lives: 2000000 * time.Hour},
		{name: "past 2262", ttl: "2190000h", status: http.StatusOK, exp: lsm.MaxExpiry, lives: lsm.MaxExpiry.Sub(start)},
		{name: "max duration", ttl: time.Duration(1<<63 - 1).String(), status: http.StatusOK, exp: lsm.MaxExpiry, lives: lsm.MaxExpiry.Sub(start)},
		{name: "one past max duration", ttl: "2562047h47m16.854775808s", status: http.StatusBadRequest},
		{name: "huge", ttl: "99999999999h", status: http.StatusBadRequest},
		{name: "overflows when added to now", ttl: "2h", start: lsm.MaxExpiry.Add(-time.Hour), status: http.StatusOK, exp: lsm.MaxExpiry, lives: time.Hour},
	}
	for _, tc := range cases {
		for _, via := range []string{"put", "batch"} {
			t.Run(tc.name+"/"+via, func(t *testing.T) {
				t.Parallel()
				begin := start
				if !tc.start.IsZero() {
					begin = tc.start
				}
				e := newEnv(t, begin)
				url := e.ts.URL + "/v1/kv/k"
				var res *http.Response
				var body string
				if via == "put" {
					res, body = do(t, http.MethodPut, url+"?ttl="+tc.ttl, "v")
				} else {
					ttl := ""
					if tc.ttl != "" {
						ttl = fmt.Sprintf(`,"ttl":%q`, tc.ttl)
					}
					res, body = do(t, http.MethodPost, e.ts.URL+"/v1/batch", `{"ops":[{"op":"put","key":"k","value":"dg=="`+ttl+`}]}`)
				}
				require.Equal(t, tc.status, res.StatusCode, body)
				if tc.status != http.StatusOK {
					assert.Equal(t, "application/problem+json", res.Header.Get("Content-Type"))
					assert.Contains(t, body, "ttl")
					res, _ = do(t, http.MethodGet, url, "")
					assert.Equal(t, http.StatusNotFound, res.StatusCode, "a refused write writes nothing")
					return
				}
				if via == "put" {
					if tc.exp.IsZero() {
						assert.Empty(t, res.Header.Get("Expires"))
					} else {
						assert.Equal(t, httpDate(tc.exp), res.Header.Get("Expires"), "the expiry actually stored")
					}
				}

				res, body = do(t, http.MethodGet, url, "")
				require.Equal(t, http.StatusOK, res.StatusCode, "the write must be readable: %s", body)
				assert.Equal(t, "v", body)
				if tc.exp.IsZero() {
					assert.Empty(t, res.Header.Get("Expires"))
					return
				}
				assert.Equal(t, httpDate(tc.exp), res.Header.Get("Expires"))
				_, body = do(t, http.MethodGet, e.ts.URL+"/v1/kv?prefix=k", "")
				assert.Contains(t, body, `"expires_at":"`+tc.exp.UTC().Format(time.RFC3339Nano)+`"`)

				// Alive until the last nanosecond of its TTL, gone at it.
				e.clock.add(tc.lives - time.Nanosecond)
				res, _ = do(t, http.MethodGet, url, "")
				assert.Equal(t, http.StatusOK, res.StatusCode, "one nanosecond before the expiry")
				e.clock.add(time.Nanosecond)
				res, _ = do(t, http.MethodGet, url, "")
				assert.Equal(t, http.StatusNotFound, res.StatusCode, "at the expiry")
			})
		}
	}
}
