package limit

// Token bucket.
//
// Math. A bucket holds at most C = Burst tokens and gains one token every T = Period/Requests
// (EmissionInterval). A request of cost n takes n tokens if the bucket holds at least n and is
// refused otherwise, taking nothing. The bucket is refilled lazily: on each request,
//
//	tokens = min(C, tokens + (now − last)/T)
//
// Tokens are counted in nanoseconds of refill (one token = T ns), so the refill is an integer
// addition with no rounding, fractions of a token accumulate exactly, and the bucket agrees to
// the nanosecond with GCRA (gcra.go) — a property test replays random sequences through both.
//
// Accuracy. Over any interval of length w it admits at most C + w/T units: a full bucket's burst,
// then exactly the rate. There is no boundary effect (no windows); the only "burst" is the one
// configured as C. A quiet client earns back its burst, which is usually what an API wants.
//
// Memory per key: two integers (tokens, time of the last update), 16 bytes; on Redis a hash of
// two fields, read and written by one script (one round trip).
//
// Reference: A. S. Tanenbaum, D. J. Wetherall, Computer Networks, 5th ed., Pearson 2011,
// ch. 5 "The Network Layer", section "Traffic Shaping" (the token bucket algorithm).

import "time"

// TokenBucketState is one key's token bucket. The zero value is a bucket that was empty at the
// Unix epoch and has long since refilled: a full bucket.
type TokenBucketState struct {
	Tokens int64 // tokens held at Last, in nanoseconds of refill (tokens × T)
	Last   int64 // Unix time of the last admitted request, in nanoseconds
}

// level is the bucket's content at t (in ns of refill) given full = C×T.
func (s *TokenBucketState) level(t, full int64) int64 {
	elapsed := max(t-s.Last, 0) // a clock stepping back refills nothing
	if elapsed >= full || s.Tokens >= full-elapsed {
		return full
	}
	return max(s.Tokens+elapsed, 0)
}

// Allow takes cost tokens if the bucket holds them.
func (s *TokenBucketState) Allow(now time.Time, l Limit, cost int64) Decision {
	t := now.UnixNano()
	iv := int64(EmissionInterval(l))
	full := span(l.Capacity(), iv)
	tokens := s.level(t, full)
	if cost > l.Capacity() {
		return impossible(l, tokens/iv, full-tokens)
	}
	need := span(cost, iv)
	if tokens < need {
		return Decision{
			Limit:      l.Requests,
			Remaining:  tokens / iv,
			ResetAfter: time.Duration(full - tokens),
			RetryAfter: time.Duration(need - tokens), // the missing tokens' refill time
		}
	}
	tokens -= need
	s.Tokens, s.Last = tokens, max(t, s.Last)
	return Decision{
		Allowed:    true,
		Limit:      l.Requests,
		Remaining:  tokens / iv,
		ResetAfter: time.Duration(full - tokens),
	}
}

// Expiry is when the bucket is full again: from then on it is indistinguishable from a new one.
func (s *TokenBucketState) Expiry(l Limit) time.Time {
	full := span(l.Capacity(), int64(EmissionInterval(l)))
	if s.Tokens >= full {
		return unixNano(s.Last)
	}
	return unixNano(s.Last + full - max(s.Tokens, 0))
}
