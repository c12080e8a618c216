package service

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/limit"
)

func TestBreakerOpensProbesAndCloses(t *testing.T) {
	now := time.Unix(1000, 0)
	var transitions []bool
	b := newBreaker(3, time.Second, func() time.Time { return now }, func(open bool) { transitions = append(transitions, open) })
	boom := errors.New("redis down")

	for range 2 {
		assert.True(t, b.allow())
		b.done(boom)
	}
	assert.False(t, b.isOpen(), "two failures are below the threshold")
	assert.True(t, b.allow())
	b.done(boom)
	assert.True(t, b.isOpen())
	assert.False(t, b.allow(), "open: fail fast")

	now = now.Add(time.Second)
	assert.True(t, b.allow(), "cooldown over: one probe")
	assert.False(t, b.allow(), "only one probe at a time")
	b.done(boom)
	assert.False(t, b.allow(), "failed probe re-opens")

	now = now.Add(time.Second)
	assert.True(t, b.allow())
	b.done(nil)
	assert.False(t, b.isOpen())
	assert.True(t, b.allow())
	assert.Equal(t, []bool{true, false}, transitions, "one callback per transition")
}

func TestBreakerSuccessResetsFailureCount(t *testing.T) {
	b := newBreaker(2, time.Second, time.Now, nil)
	b.done(errors.New("x"))
	b.done(nil)
	b.done(errors.New("x"))
	assert.False(t, b.isOpen(), "failures must be consecutive")
}

// A probe that ends without an outcome (the request was never sent: the process was busy, or its
// caller left) hands the probe to the next caller instead of leaving the breaker open for good.
func TestBreakerProbeWithoutOutcomeIsReleased(t *testing.T) {
	now := time.Unix(1000, 0)
	b := newBreaker(1, time.Second, func() time.Time { return now }, nil)
	assert.True(t, b.allow())
	b.done(errors.New("redis down"))
	now = now.Add(time.Second)
	assert.True(t, b.allow(), "the probe")
	assert.False(t, b.allow())
	b.release()
	assert.True(t, b.allow(), "the next caller probes")
	b.done(nil)
	assert.False(t, b.isOpen())
}

// The requests of one failed round trip count as one failure: a single late pipeline of many
// requests does not open the breaker; distinct failed round trips do.
func TestBreakerCountsARoundTripOnce(t *testing.T) {
	b := newBreaker(3, time.Second, time.Now, nil)
	trip := &limit.RoundTripError{Err: errors.New("no reply within the deadline")}
	for range 100 {
		assert.True(t, b.allow())
		b.done(fmt.Errorf("redisstore: allow: %w", trip))
	}
	assert.False(t, b.isOpen(), "100 requests, one round trip: one failure")
	for range 2 {
		b.done(&limit.RoundTripError{Err: errors.New("again")})
	}
	assert.True(t, b.isOpen(), "three failed round trips")
}
