package resp_test

import (
	"testing"
	"time"

	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/resp"
	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/resp/storetest"
)

func TestMemStore(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(_ *testing.T, now func() time.Time) resp.Store {
		return resp.NewMemStore(now)
	})
}
