package limit

// Concurrency limiter (requests in flight).
//
// Math. Each admitted request takes a lease of its cost n, valid for P = Period, and returns it
// with Release when it finishes. The slots held are the sum of the live leases' costs; a request
// is admitted when held + n ≤ Requests. A lease never released — its caller crashed or lost its
// connection — expires P after it was granted, so a lost release costs slots for at most one
// period instead of forever. Choose P well above the longest legitimate request.
//
// Accuracy: exact for in-flight work, and unlike every rate algorithm it adapts to slow
// requests: when responses slow down, admissions slow down with them. It bounds concurrency, not
// rate (a client with fast requests can still send many per second), so it is paired with a rate
// limit, not used instead of one.
//
// Memory per key: one lease (an ID of 26 bytes, a cost, an expiry) per request in flight, up to
// Requests leases. On Redis a sorted set scored by expiry, one script to acquire (drop the
// expired, count, add) and one to release.
//
// Lease IDs are 128 random bits (crypto/rand.Text), so they are unique without coordination and
// one client cannot guess, and release, another's lease.
//
// Reference: Paul Tarjan, "Scaling your API with rate limiters", Stripe blog, 2017 (the
// concurrent requests limiter).

import (
	"cmp"
	"crypto/rand"
	"slices"
	"time"
)

// Lease is one admitted request's hold on N slots.
type Lease struct {
	ID      string
	N       int64 // slots held
	Expires int64 // Unix nanoseconds; the lease no longer counts from then on
}

// ConcurrencyState is one key's live leases. The zero value is a fresh key.
type ConcurrencyState struct {
	Leases []Lease // sorted by Expires
	Held   int64   // the sum of Leases' N
}

// NewLeaseID returns a fresh random lease ID.
func NewLeaseID() string {
	return rand.Text()
}

// prune drops the leases that have expired at t.
func (s *ConcurrencyState) prune(t int64) {
	i := 0
	for i < len(s.Leases) && s.Leases[i].Expires <= t {
		s.Held -= s.Leases[i].N
		i++
	}
	switch {
	case i == len(s.Leases):
		clear(s.Leases) // drop the ID strings
		s.Leases, s.Held = s.Leases[:0], 0
	case i > 0:
		clear(s.Leases[:i])
		s.Leases = s.Leases[i:]
	}
}

// Allow acquires a lease with a random ID (NewLeaseID).
func (s *ConcurrencyState) Allow(now time.Time, l Limit, cost int64) Decision {
	return s.Acquire(now, l, cost, NewLeaseID)
}

// Acquire admits the request if cost slots are free, recording a lease whose ID comes from
// newID (called only when admitted). Decision.Lease carries the ID to pass to Release.
func (s *ConcurrencyState) Acquire(now time.Time, l Limit, cost int64, newID func() string) Decision {
	t, r := now.UnixNano(), l.Requests
	s.prune(t)
	if cost > r {
		return impossible(l, r-s.Held, s.resetAfter(t))
	}
	if excess := s.Held + cost - r; excess > 0 {
		return Decision{
			Limit:      r,
			Remaining:  max(r-s.Held, 0),
			ResetAfter: time.Duration(s.resetAfter(t)),
			RetryAfter: time.Duration(s.retryAfter(t, excess)),
		}
	}
	lease := Lease{ID: newID(), N: cost, Expires: t + int64(l.Period)}
	if n := len(s.Leases); n == 0 || s.Leases[n-1].Expires <= lease.Expires {
		s.Leases = append(s.Leases, lease)
	} else { // the period was shortened: keep the order
		i, _ := slices.BinarySearchFunc(s.Leases, lease.Expires, func(a Lease, e int64) int {
			return cmp.Compare(a.Expires, e+1) // insert after equal expiries
		})
		s.Leases = slices.Insert(s.Leases, i, lease)
	}
	s.Held += cost
	return Decision{
		Allowed:    true,
		Limit:      r,
		Remaining:  max(r-s.Held, 0),
		ResetAfter: time.Duration(s.resetAfter(t)),
		Lease:      lease.ID,
	}
}

// Release returns a lease's slots and reports whether the lease was held.
func (s *ConcurrencyState) Release(id string) bool {
	for i, e := range s.Leases {
		if e.ID == id {
			s.Held -= e.N
			s.Leases = slices.Delete(s.Leases, i, i+1)
			return true
		}
	}
	return false
}

// retryAfter is how long until the leases expiring first free at least excess slots, if none is
// released meanwhile.
func (s *ConcurrencyState) retryAfter(t, excess int64) int64 {
	freed := int64(0)
	for _, e := range s.Leases {
		if freed += e.N; freed >= excess {
			return e.Expires - t
		}
	}
	return 1 // unreachable while cost ≤ Requests
}

// resetAfter is how long until every lease has expired.
func (s *ConcurrencyState) resetAfter(t int64) int64 {
	if n := len(s.Leases); n > 0 {
		return s.Leases[n-1].Expires - t
	}
	return 0
}

// Expiry is when the last lease expires.
func (s *ConcurrencyState) Expiry(Limit) time.Time {
	if n := len(s.Leases); n > 0 {
		return unixNano(s.Leases[n-1].Expires)
	}
	return unixNano(0)
}
