package api_test

import (
	"context"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/api"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/chat"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/send"
)

func TestOnCreatedFiresOncePerCreatedMessage(t *testing.T) {
	t.Parallel()
	var (
		mu  sync.Mutex
		got []chat.Message
	)
	h := serveSend(t, memStore(t), func(o *send.Options) {
		o.OnCreated = func(ctx context.Context, ms []chat.Message) {
			mu.Lock()
			defer mu.Unlock()
			assert.Len(t, ms, 1, "one batch per HTTP send sent one after the other")
			got = append(got, ms...)
		}
	}, nil)
	a, b := h.signup(t, "alice"), h.signup(t, "bob")
	var c api.Conversation
	h.call(t, a.token, "POST", "/v1/conversations/direct", api.DirectRequest{UserID: b.user.ID}).decode(t, &c)

	require.Equal(t, http.StatusCreated, h.send(t, a, c.ID, "a-1", "hi").status)
	require.Equal(t, http.StatusOK, h.send(t, a, c.ID, "a-1", "hi").status, "a retry")
	require.Equal(t, http.StatusCreated, h.send(t, b, c.ID, "b-1", "yo").status)
	require.Equal(t, http.StatusForbidden, h.send(t, a, api.ID(999999), "a-2", "nope").status, "not stored")

	// A send is answered once stored; the publish and the hook follow on its batch's goroutine.
	require.NoError(t, h.sends.Wait(t.Context()))
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, got, 2, "once per created message, never for the retry or a refused send")
	assert.Equal(t, "a-1", got[0].ClientMsgID)
	assert.Equal(t, int64(a.user.ID), got[0].SenderID)
	assert.Equal(t, int64(1), got[0].Seq)
	assert.Equal(t, "b-1", got[1].ClientMsgID)
	assert.Equal(t, int64(b.user.ID), got[1].SenderID)
	assert.Len(t, h.pub.published(), 2, "published as well")
}
