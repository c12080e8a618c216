package service

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/memstore"
	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/rules"
)

// failure_mode local's in-memory store is bounded like the in-memory store (ADR 0007): during a
// Redis outage, distinct descriptor values must not grow it without limit either.
func TestLocalStoreIsCapped(t *testing.T) {
	set, err := rules.Parse("t.yaml", []byte("domain: d\ndescriptors:\n  - key: k\n    rate_limit: {unit: second, requests_per_unit: 1}\n"))
	require.NoError(t, err)
	store := memstore.New(nil)
	t.Cleanup(func() { _ = store.Close() })
	e, err := New(Options{Store: store, Shared: true, Rules: func() *rules.Set { return set }})
	require.NoError(t, err)
	t.Cleanup(func() { _ = e.Close() })
	assert.Equal(t, memstore.DefaultMaxKeys, e.LocalStore().MaxKeys())

	// The service passes MEMORY_MAX_KEYS's cap in.
	e2, err := New(Options{Store: store, Shared: true, Rules: func() *rules.Set { return set },
		Local: memstore.New(nil, memstore.WithMaxKeys(1024))})
	require.NoError(t, err)
	t.Cleanup(func() { _ = e2.Close() })
	assert.Equal(t, 1024, e2.LocalStore().MaxKeys())
}
