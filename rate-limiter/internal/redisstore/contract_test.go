package redisstore

import (
	"testing"
	"time"

	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/limit/limittest"
)

// The Redis store keeps the same contract as the in-memory one, on the Redis clock: the suite
// brackets each request with Redis TIME, the clock the scripts decide by. Its cases run in
// parallel with each other, not with the other tests, whose load would only widen the brackets.
func TestContract(t *testing.T) {
	limittest.Run(t, func(t *testing.T) limittest.Harness {
		s, env := newStore(t, Options{Timeout: 2 * time.Second})
		return limittest.Harness{
			Store:  s,
			Now:    func() time.Time { return redisNow(t, env.Client) },
			Sleep:  time.Sleep,
			Period: 300 * time.Millisecond,
		}
	})
}
