package limit

// Leaky bucket, in its two forms: as a meter (LeakyBucket) and as a queue (LeakyQueue).
//
// Math, as a meter. A bucket of capacity C = Burst leaks one unit every T = Period/Requests. A
// request of cost n pours n units in; if they would overflow the bucket the request is
// non-conforming and denied, pouring nothing:
//
//	level = max(0, level − (now − last)/T)
//	admit iff level + n ≤ C, then level += n
//
// The level is kept in nanoseconds of draining (one unit = T ns), so this is the token bucket
// seen from the other side (level = C − tokens) and admits exactly the same sequences as the
// token bucket and GCRA. It is kept as its own algorithm because it is the textbook form and it
// stores a level, not a time.
//
// Math, as a queue (a traffic shaper). Requests are not refused while there is room: each
// admitted request joins a FIFO that releases one unit every T, and is told how long to wait
// (Decision.Delay) before proceeding. The queue is described by one instant, next: when it will
// have drained. A request of cost n arriving at now
//
//	starts   = max(next, now)            // its turn: Delay = starts − now
//	admitted iff (starts − now) + n·T ≤ C·T   // queue level + n ≤ C
//	then next = starts + n·T
//
// so consecutive queued requests are delayed T apart and leave at exactly Requests per Period.
// Admission is GCRA's (next plays TAT); the difference is what the caller does with it: a
// meter rejects a burst beyond the average, a queue smooths it out at the cost of latency.
//
// Accuracy (both): at most C + w/T units admitted in any interval of length w; the queue also
// guarantees that admitted work starts no faster than one unit per T. No window boundaries.
//
// Memory per key: the meter two integers (level, last update), the queue one integer (next);
// on Redis a hash or a string, one script, one round trip.
//
// References: J. S. Turner, "New directions in communications (or which way to the information
// age?)", IEEE Communications Magazine 24(10), 1986 (the leaky bucket); Wikipedia, "Leaky bucket"
// (the meter and queue interpretations, and the meter's equivalence with GCRA); Tanenbaum &
// Wetherall, Computer Networks, 5th ed., "Traffic Shaping".

import "time"

// LeakyBucketState is one key's leaky bucket used as a meter. The zero value is an empty bucket.
type LeakyBucketState struct {
	Level int64 // units in the bucket at Last, in nanoseconds of draining (units × T)
	Last  int64 // Unix time of the last admitted request, in nanoseconds
}

// Allow pours cost units in if they fit.
func (s *LeakyBucketState) Allow(now time.Time, l Limit, cost int64) Decision {
	t := now.UnixNano()
	iv := int64(EmissionInterval(l))
	full := span(l.Capacity(), iv)
	level := max(s.Level-max(t-s.Last, 0), 0)
	if cost > l.Capacity() {
		return impossible(l, (full-level)/iv, level)
	}
	need := span(cost, iv)
	if over := level + need - full; over > 0 {
		return Decision{
			Limit:      l.Requests,
			Remaining:  max(full-level, 0) / iv,
			ResetAfter: time.Duration(level),
			RetryAfter: time.Duration(over), // until enough has leaked out
		}
	}
	level += need
	s.Level, s.Last = level, max(t, s.Last)
	return Decision{
		Allowed:    true,
		Limit:      l.Requests,
		Remaining:  (full - level) / iv,
		ResetAfter: time.Duration(level),
	}
}

// Expiry is when the bucket has drained empty.
func (s *LeakyBucketState) Expiry(Limit) time.Time {
	return unixNano(s.Last + max(s.Level, 0))
}

// LeakyQueueState is one key's leaky bucket used as a queue. The zero value is an empty queue.
type LeakyQueueState struct {
	Next int64 // Unix time in nanoseconds at which the queue will have drained
}

// Allow queues the request if there is room and says how long it must wait for its turn.
func (s *LeakyQueueState) Allow(now time.Time, l Limit, cost int64) Decision {
	t := now.UnixNano()
	iv := int64(EmissionInterval(l))
	full := span(l.Capacity(), iv)
	queued := max(s.Next, t) - t // the queue's level, in ns: also the wait of whoever joins now
	if cost > l.Capacity() {
		return impossible(l, (full-queued)/iv, queued)
	}
	need := span(cost, iv)
	if over := queued + need - full; over > 0 {
		return Decision{
			Limit:      l.Requests,
			Remaining:  max(full-queued, 0) / iv,
			ResetAfter: time.Duration(queued),
			RetryAfter: time.Duration(over),
		}
	}
	s.Next = t + queued + need
	return Decision{
		Allowed:    true,
		Limit:      l.Requests,
		Remaining:  (full - queued - need) / iv,
		ResetAfter: time.Duration(queued + need),
		Delay:      time.Duration(queued),
	}
}

// Expiry is when the queue has drained.
func (s *LeakyQueueState) Expiry(Limit) time.Time {
	return unixNano(s.Next)
}
