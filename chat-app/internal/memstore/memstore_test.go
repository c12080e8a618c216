package memstore_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/chat"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/chat/chattest"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/memstore"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/snowflake"
)

func TestContract(t *testing.T) {
	chattest.Run(t, func(t *testing.T) chat.Store {
		ids, err := snowflake.New(1, nil)
		require.NoError(t, err)
		return memstore.New(ids)
	})
}

func TestPushContract(t *testing.T) {
	chattest.RunPush(t, func(t *testing.T) chattest.PushStore {
		ids, err := snowflake.New(1, nil)
		require.NoError(t, err)
		users := memstore.New(ids)
		return struct {
			*memstore.Store
			*memstore.PushStore
		}{users, memstore.NewPushStore(users)}
	})
}
