package fanout_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/fanout"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/fanout/fanouttest"
)

func TestMemoryContract(t *testing.T) {
	fanouttest.Run(t, func(*testing.T) (a, b fanout.Bus) {
		m := fanout.NewMemory()
		return m, m
	})
}

func TestTopics(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "c:100", fanout.ConversationTopic(100))
	assert.Equal(t, "u:-1", fanout.UserTopic(-1))
	assert.NotEqual(t, fanout.ConversationTopic(7), fanout.UserTopic(7))
}

// A handler that blocks does not block Publish: the topic's queue fills, then events drop and
// are counted; other topics keep flowing.
func TestMemorySlowHandlerDoesNotBlockPublish(t *testing.T) {
	t.Parallel()
	m := fanout.NewMemorySize(4)
	defer m.Close()
	release := make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	defer unblock()

	entered := make(chan struct{}, 1)
	_, err := m.Subscribe("slow", func(fanout.Event) {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-release
	})
	require.NoError(t, err)
	var fast sync.WaitGroup
	fast.Add(1)
	_, err = m.Subscribe("fast", func(fanout.Event) { fast.Done() })
	require.NoError(t, err)

	ctx := context.Background()
	require.NoError(t, m.Publish(ctx, "slow", fanout.Event{}))
	<-entered // the handler holds the first event; 4 more fit in the queue
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 10 {
			assert.NoError(t, m.Publish(ctx, "slow", fanout.Event{}))
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Publish blocked behind a slow handler")
	}
	assert.Equal(t, int64(6), m.Dropped())
	require.NoError(t, m.Publish(ctx, "fast", fanout.Event{}))
	fast.Wait()
	unblock()
}
