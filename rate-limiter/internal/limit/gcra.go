package limit

// GCRA, the generic cell rate algorithm.
//
// Math. GCRA stores a single time per key, the theoretical arrival time TAT: when the key would
// be back to full capacity if nothing else arrived. With emission interval T = Period/Requests
// and capacity C = Burst, a request of cost n at time now is checked against
//
//	tat      = max(TAT, now)
//	allow_at = tat + n·T − C·T
//
// and admitted when allow_at ≤ now, setting TAT = tat + n·T. Denied, TAT is left as is and the
// caller may retry after allow_at − now. The textbook single-cell form is "admit if
// TAT − τ ≤ now" with the delay-variation tolerance τ = (C−1)·T; with n cells it is
// τ = (C−n)·T, which is the line above.
//
// Why it equals a token bucket of capacity C refilled one token per T: write the bucket's
// content in nanoseconds of refill, tokens = C·T − (tat − now) (the bucket is full at TAT and
// loses T per unit taken). Then "tokens ≥ n·T" is "tat + n·T − C·T ≤ now", taking n tokens is
// "TAT += n·T", and a bucket that refills past full is "tat = max(TAT, now)". Both are computed
// here in integer nanoseconds with the same T, so they agree exactly, not just on average;
// TestGCRAMatchesTokenBucket and FuzzGCRAMatchesTokenBucket replay random sequences through both.
//
// Accuracy: the token bucket's — at most C + w/T units in any interval of length w, no window
// boundaries. Memory per key: one integer, 8 bytes; on Redis one string key with a PEXPIREAT at
// TAT, read and written by one script (one round trip). That is why it is the default algorithm
// for new rules (ADR 0002).
//
// References: The ATM Forum, Traffic Management Specification Version 4.0 (af-tm-0056.000),
// 1996 (the GCRA in its virtual-scheduling form, with increment T and limit τ); ITU-T
// Recommendation I.371; Brandur Leach, "Rate limiting, cells, and GCRA", brandur.org, 2015.

import "time"

// GCRAState is one key's theoretical arrival time. The zero value is a fresh key.
type GCRAState struct {
	TAT int64 // Unix time in nanoseconds at which the key is back to full capacity
}

// Allow admits the request if its cells conform.
func (s *GCRAState) Allow(now time.Time, l Limit, cost int64) Decision {
	t := now.UnixNano()
	iv := int64(EmissionInterval(l))
	full := span(l.Capacity(), iv) // C·T
	debt := max(s.TAT, t) - t      // tat − now: how far from full the key is
	if cost > l.Capacity() {
		return impossible(l, (full-debt)/iv, debt)
	}
	need := span(cost, iv) // n·T
	if wait := debt + need - full; wait > 0 {
		return Decision{
			Limit:      l.Requests,
			Remaining:  max(full-debt, 0) / iv,
			ResetAfter: time.Duration(debt),
			RetryAfter: time.Duration(wait), // allow_at − now
		}
	}
	debt += need
	s.TAT = t + debt
	return Decision{
		Allowed:    true,
		Limit:      l.Requests,
		Remaining:  (full - debt) / iv,
		ResetAfter: time.Duration(debt),
	}
}

// Expiry is TAT: from then on max(TAT, now) = now, exactly as for a fresh key.
func (s *GCRAState) Expiry(Limit) time.Time {
	return unixNano(s.TAT)
}
