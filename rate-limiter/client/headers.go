package client

import (
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
		{"RateLimit-Policy", field(tightest.Rule, "q", tightest.Limit, "w", ceilSeconds(tightest.PeriodMs))},
		{"RateLimit", field(tightest.Rule, "r", tightest.Remaining, "t", reset)},
	}
	if retryMs > 0 {
		h = append(h, [2]string{"Retry-After", strconv.FormatInt(ceilSeconds(retryMs), 10)})
	}
	return h
}

// field formats one draft-RFC structured field, `"name";a=1;b=2` (fmt.Sprintf costs three times as
// much, on every decision).
func field(name, k1 string, v1 int64, k2 string, v2 int64) string {
	b := make([]byte, 0, len(name)+32)
	b = strconv.AppendQuote(b, name)
	b = append(b, ';')
	b = append(b, k1...)
	b = append(b, '=')
	b = strconv.AppendInt(b, v1, 10)
	b = append(b, ';')
	b = append(b, k2...)
	b = append(b, '=')
	b = strconv.AppendInt(b, v2, 10)
	return string(b)
}

// ceilSeconds rounds up: telling a client to come back a little late is safe, early is not.
func ceilSeconds(ms int64) int64 {
	if ms <= 0 {
		return 0
	}
	return int64(math.Ceil(float64(time.Duration(ms)*time.Millisecond) / float64(time.Second)))
}
