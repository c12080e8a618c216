package kv

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/lsm"
	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/resp"
	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/resp/storetest"
)

// The RESP contract suite, the same one the in-memory reference store passes, on the real engine.
func TestRESPContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T, now func() time.Time) resp.Store {
		db, err := lsm.Open(t.TempDir(), lsm.Options{Now: now, MemtableSize: 32 << 10})
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, db.Close()) })
		return RESP{S: New(db, 1<<20, now)}
	})
}
