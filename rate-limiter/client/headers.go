package client

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// Headers are the rate-limit response headers for one request's results, taken from the most
// restrictive enforced descriptor (the fewest remaining): the de-facto X-RateLimit-Limit,
// -Remaining and -Reset, and the IETF draft's fields (draft-ietf-httpapi-ratelimit-headers:
// `RateLimit-Policy: "name";q=100;w=60` and `RateLimit: "name";r=42;t=17`). Retry-After is
// added when the request is over its limit. The service, the proxy and applications that embed
// this client all use it, so every path sends the same headers.
func Headers(results []Result) [][2]string {
	var tightest *Result
	var retryMs int64
	for i := range results {
		r := &results[i]
		if r.Rule == "" || r.PeriodMs == 0 { // no rule, or an unlimited one
			continue
		}
		if tightest == nil || r.Remaining < tightest.Remaining {
			tightest = r
		}
		if r.Code == "OVER_LIMIT" {
			retryMs = max(retryMs, r.RetryAfterMs)
		}
	}
	if tightest == nil {
		return nil
	}
	reset := ceilSeconds(tightest.ResetAfterMs)
	h := [][2]string{
		{"X-RateLimit-Limit", strconv.FormatInt(tightest.Limit, 10)},
		{"X-RateLimit-Remaining", strconv.FormatInt(tightest.Remaining, 10)},
		{"X-RateLimit-Reset", strconv.FormatInt(reset, 10)},
		{"RateLimit-Policy", fmt.Sprintf("%q;q=%d;w=%d", tightest.Rule, tightest.Limit, ceilSeconds(tightest.PeriodMs))},
		{"RateLimit", fmt.Sprintf("%q;r=%d;t=%d", tightest.Rule, tightest.Remaining, reset)},
	}
	if retryMs > 0 {
		h = append(h, [2]string{"Retry-After", strconv.FormatInt(ceilSeconds(retryMs), 10)})
	}
	return h
}

// ceilSeconds rounds up: telling a client to come back a little late is safe, early is not.
func ceilSeconds(ms int64) int64 {
	if ms <= 0 {
		return 0
	}
	return int64(math.Ceil(float64(time.Duration(ms)*time.Millisecond) / float64(time.Second)))
}
