package service

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestOverLimitCache(t *testing.T) {
	c := newOverLimitCache()
	now := time.Unix(1000, 0)
	_, ok := c.deniedUntil("k", 1, now)
	assert.False(t, ok)

	c.remember("k", 5, now.Add(time.Second))
	until, ok := c.deniedUntil("k", 5, now)
	assert.True(t, ok)
	assert.Equal(t, now.Add(time.Second), until)
	_, ok = c.deniedUntil("k", 9, now)
	assert.True(t, ok, "a larger cost is denied too")
	_, ok = c.deniedUntil("k", 1, now)
	assert.False(t, ok, "a smaller cost may still fit: ask the store")

	_, ok = c.deniedUntil("k", 5, now.Add(time.Second))
	assert.False(t, ok, "expired at until")

	c.remember("a", 1, now.Add(time.Second))
	c.remember("b", 1, now.Add(3*time.Second))
	assert.Equal(t, 1, c.sweep(now.Add(2*time.Second)))
}
