package limit

// Sliding log.
//
// Math. Keep the time of every admitted unit in the last P = Period; a request of cost n at now
// is admitted when the units logged in (now − P, now] plus n are at most Requests. Entries older
// than P are dropped as they are met. A hit of cost n is one entry (time, n), and hits at the same
// nanosecond share an entry, so the log holds at most Requests entries.
//
// Accuracy: exact. No window of length P, wherever it starts, ever holds more than Requests
// admitted units, and no boundary exists to burst across. A denied request's RetryAfter is exact
// too: the instant enough of the oldest entries have aged out.
//
// Memory per key: one 16-byte entry per admitted hit in the last period, so up to 16×Requests
// bytes — fine for 100 per minute, costly for 100,000 per hour. On Redis a sorted set scored by
// time, one member per admitted unit (ZREMRANGEBYSCORE, ZCARD, ZADD in one script, one round
// trip), so both its memory and the script's work grow with Requests.
//
// References: Alex Xu, System Design Interview – An Insider's Guide, vol. 1, 2020, ch. 4
// (sliding window log); Figma Engineering, "An alternative approach to rate limiting", 2017.

import "time"

// LogEntry is one admitted hit: its time and its cost.
type LogEntry struct {
	At int64 // Unix nanoseconds
	N  int64 // units
}

// SlidingLogState is one key's log. The zero value is a fresh key.
type SlidingLogState struct {
	Log   []LogEntry // admitted hits, oldest first, strictly increasing At
	Total int64      // the sum of Log's N, kept so a decision need not add up the log
}

// prune drops the entries that no longer count at t: those at or before t − P.
func (s *SlidingLogState) prune(t, p int64) {
	i := 0
	for i < len(s.Log) && s.Log[i].At <= t-p {
		s.Total -= s.Log[i].N
		i++
	}
	switch {
	case i == len(s.Log):
		s.Log, s.Total = s.Log[:0], 0 // reuse the array from its start
	case i > 0:
		s.Log = s.Log[i:]
	}
}

// Allow logs the hit if the last period leaves room for it.
func (s *SlidingLogState) Allow(now time.Time, l Limit, cost int64) Decision {
	t, p, r := now.UnixNano(), int64(l.Period), l.Requests
	if n := len(s.Log); n > 0 {
		t = max(t, s.Log[n-1].At) // a clock stepping back must not unsort the log
	}
	s.prune(t, p) // forgetting what has aged out is not consuming anything
	if cost > r {
		return impossible(l, r-s.Total, s.resetAfter(t, p))
	}
	if excess := s.Total + cost - r; excess > 0 {
		return Decision{
			Limit:      r,
			Remaining:  max(r-s.Total, 0),
			ResetAfter: time.Duration(s.resetAfter(t, p)),
			RetryAfter: time.Duration(s.retryAfter(t, p, excess)),
		}
	}
	if n := len(s.Log); n > 0 && s.Log[n-1].At == t {
		s.Log[n-1].N += cost
	} else {
		s.Log = append(s.Log, LogEntry{At: t, N: cost})
	}
	s.Total += cost
	return Decision{
		Allowed:    true,
		Limit:      r,
		Remaining:  max(r-s.Total, 0),
		ResetAfter: time.Duration(p), // the newest entry, just logged, ages out last
	}
}

// retryAfter is how long until the oldest entries holding at least excess units have aged out.
func (s *SlidingLogState) retryAfter(t, p, excess int64) int64 {
	freed := int64(0)
	for _, e := range s.Log {
		if freed += e.N; freed >= excess {
			return e.At + p - t
		}
	}
	return p // unreachable while Total + cost − Requests ≤ Total, i.e. cost ≤ Requests
}

// resetAfter is how long until the whole log has aged out.
func (s *SlidingLogState) resetAfter(t, p int64) int64 {
	if n := len(s.Log); n > 0 {
		return s.Log[n-1].At + p - t
	}
	return 0
}

// Expiry is when the newest entry ages out.
func (s *SlidingLogState) Expiry(l Limit) time.Time {
	if n := len(s.Log); n > 0 {
		return unixNano(s.Log[n-1].At + int64(l.Period))
	}
	return unixNano(0)
}
