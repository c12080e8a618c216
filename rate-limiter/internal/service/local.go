package service

import "github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/memstore"

// LocalStore is the in-memory store that failure_mode local decides with while the shared store
// is out (Options.Local), so its size can be exported as a metric.
func (e *Engine) LocalStore() *memstore.Store { return e.local }
