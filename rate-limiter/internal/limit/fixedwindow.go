package limit

// Fixed window counter.
//
// Math. Time is cut into windows of length P = Period aligned to multiples of P since the Unix
// epoch (ADR 0004): the window holding now starts at ⌊now/P⌋·P. Each key counts the units admitted
// in the current window; a request of cost n is admitted when count + n ≤ Requests. A new window
// starts the count at zero.
//
// Accuracy. Exact within a window, but blind to where in the window hits fall: Requests admitted
// just before a boundary and Requests more just after it are 2×Requests within a fraction of a
// period. That boundary burst is the price of the cheapest algorithm there is, and the reason the
// sliding window counter exists.
//
// Memory per key: two integers (window start, count), 16 bytes; on Redis a two-field hash that
// expires when its window ends, read and written by one script (one round trip).
//
// Reference: Alex Xu, System Design Interview – An Insider's Guide, vol. 1, 2020, ch. 4 "Design a
// Rate Limiter" (fixed window counter and its edge problem).

import "time"

// FixedWindowState is one key's counter. The zero value is a fresh key.
type FixedWindowState struct {
	Start int64 // the window's start, Unix nanoseconds, a multiple of Period
	Count int64 // units admitted in that window
}

// view is the window holding t and its count so far.
func (s *FixedWindowState) view(t, p int64) (start, count int64) {
	start = windowStart(t, p)
	switch {
	case start == s.Start:
		return start, s.Count
	case start > s.Start:
		return start, 0
	default: // the clock stepped back into an earlier window: keep counting in the stored one
		return s.Start, s.Count
	}
}

// Allow counts cost units into the current window if they fit.
func (s *FixedWindowState) Allow(now time.Time, l Limit, cost int64) Decision {
	t, p := now.UnixNano(), int64(l.Period)
	start, count := s.view(t, p)
	end := start + p - t // until the window ends
	if cost > l.Requests {
		return impossible(l, l.Requests-count, end)
	}
	if count+cost > l.Requests {
		return Decision{
			Limit:      l.Requests,
			Remaining:  max(l.Requests-count, 0),
			ResetAfter: time.Duration(end),
			RetryAfter: time.Duration(end), // the next window starts empty and cost ≤ Requests
		}
	}
	s.Start, s.Count = start, count+cost
	return Decision{
		Allowed:    true,
		Limit:      l.Requests,
		Remaining:  l.Requests - s.Count,
		ResetAfter: time.Duration(end),
	}
}

// Expiry is the end of the stored window.
func (s *FixedWindowState) Expiry(l Limit) time.Time {
	return unixNano(s.Start + int64(l.Period))
}
