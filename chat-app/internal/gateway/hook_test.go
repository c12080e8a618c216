package gateway

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/chat"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/protocol"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/send"
)

// hookRecorder records the messages OnCreated was called with.
type hookRecorder struct {
	mu  sync.Mutex
	got []chat.Message
}

func (h *hookRecorder) onCreated(_ context.Context, ms []chat.Message) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.got = append(h.got, ms...)
}

func (h *hookRecorder) calls() []chat.Message {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]chat.Message(nil), h.got...)
}

func TestOnCreatedFiresOncePerCreatedMessage(t *testing.T) {
	t.Parallel()
	rec := &hookRecorder{}
	e := newEnv(t, envOpts{send: func(o *send.Options) { o.OnCreated = rec.onCreated }})
	u := e.users(t, "alice", "bob")
	conv, err := e.store.Direct(context.Background(), u[0], u[1])
	require.NoError(t, err)
	c := connect(t, e.urls[0], u[0])

	first := c.sendText(conv.ID, "m-1", "hello")
	require.False(t, first.Duplicate)
	retry := c.sendText(conv.ID, "m-1", "hello")
	require.True(t, retry.Duplicate, "the retry is acked as a duplicate")
	second := c.sendText(conv.ID, "m-2", "again")
	// An edit is a created message too.
	c.send(protocol.Edit{ConversationID: protocol.ID(conv.ID), ClientMsgID: "m-3", RefSeq: second.Seq, Body: "edited"})
	for {
		if a, ok := c.next().(protocol.Ack); ok && a.ClientMsgID == "m-3" {
			break
		}
	}

	// The hook runs once per stored batch, after its acks are queued: wait for the edit's call.
	require.Eventually(t, func() bool { return len(rec.calls()) >= 3 }, waitFor, 5*time.Millisecond)
	got := rec.calls()
	require.Len(t, got, 3, "m-1 once (not its retry), m-2, the edit")
	assert.Equal(t, []int64{1, 2, 3}, []int64{got[0].Seq, got[1].Seq, got[2].Seq})
	assert.Equal(t, "m-1", got[0].ClientMsgID)
	assert.Equal(t, u[0], got[0].SenderID)
	assert.Equal(t, int64(first.ID), got[0].ID)
	assert.Equal(t, chat.Edit, got[2].Kind)
}
