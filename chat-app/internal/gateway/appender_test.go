package gateway

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/chat"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/protocol"
)

// gatedStore holds every AppendBatch until the test lets it through, and records batch sizes.
type gatedStore struct {
	chat.Store
	entered chan int      // the size of each batch that reached the store
	release chan struct{} // one receive lets one batch through
	failing atomic.Bool   // every batch fails while set
}

func (s *gatedStore) AppendBatch(ctx context.Context, ms []chat.Message) ([]chat.AppendResult, error) {
	s.entered <- len(ms)
	<-s.release
	if s.failing.Load() {
		return nil, errors.New("database is down")
	}
	return s.Store.AppendBatch(ctx, ms)
}

func gatedEnv(t *testing.T) (*env, *gatedStore) {
	var g *gatedStore
	e := newEnv(t, envOpts{tune: func(o *Options) {
		g = &gatedStore{Store: o.Store, entered: make(chan int, 100), release: make(chan struct{})}
		o.Store = g
	}})
	return e, g
}

func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitFor):
		t.Fatalf("nothing within %s", waitFor)
		panic("unreachable")
	}
}

// Sends that arrive while a conversation's batch is being stored form its next batch: one
// AppendBatch for all of them, acked in their order with consecutive seqs, delivered once each.
func TestSendsQueuedDuringACommitFormOneBatch(t *testing.T) {
	t.Parallel()
	e, gs := gatedEnv(t)
	u := e.users(t, "alice", "bob", "carol")
	g, err := e.store.CreateGroup(context.Background(), u[0], "g", u[1:])
	require.NoError(t, err)
	a, b, c := connect(t, e.urls[0], u[0]), connect(t, e.urls[0], u[1]), connect(t, e.urls[0], u[2])
	syncAll(c, map[int64]int64{g.ID: 0})

	a.send(protocol.Send{ConversationID: protocol.ID(g.ID), ClientMsgID: "first", Body: "1"})
	assert.Equal(t, 1, recv(t, gs.entered), "the first send is a batch of one")
	// While it commits, alice and bob queue 10 more; alice repeats one (a retry).
	for i := range 5 {
		a.send(protocol.Send{ConversationID: protocol.ID(g.ID), ClientMsgID: fmt.Sprintf("a%d", i), Body: "a"})
		b.send(protocol.Send{ConversationID: protocol.ID(g.ID), ClientMsgID: fmt.Sprintf("b%d", i), Body: "b"})
	}
	a.send(protocol.Send{ConversationID: protocol.ID(g.ID), ClientMsgID: "a0", Body: "a, again"})
	require.Eventually(t, func() bool {
		return e.gws[0].sender.Queued() == 11
	}, waitFor, 5*time.Millisecond, "11 sends queue behind the first batch")
	gs.release <- struct{}{}
	assert.Equal(t, 11, recv(t, gs.entered), "one batch for everything that queued")
	gs.release <- struct{}{}

	acks := func(cl *client, n int) []protocol.Ack {
		var out []protocol.Ack
		for len(out) < n {
			if a, ok := cl.next().(protocol.Ack); ok {
				out = append(out, a)
			}
		}
		return out
	}
	aa := acks(a, 7)
	assert.Equal(t, "first", aa[0].ClientMsgID)
	for i := 1; i < len(aa)-1; i++ {
		assert.Equal(t, fmt.Sprintf("a%d", i-1), aa[i].ClientMsgID, "one connection's acks keep its order")
		assert.Greater(t, aa[i].Seq, aa[i-1].Seq)
	}
	last := aa[6]
	assert.True(t, last.Duplicate, "the repeated a0 is a duplicate")
	assert.Equal(t, aa[1].Seq, last.Seq)
	bb := acks(b, 5)
	seqs := map[int64]bool{}
	for _, x := range append(aa[:6], bb...) {
		assert.False(t, seqs[x.Seq], "seq %d acked twice", x.Seq)
		seqs[x.Seq] = true
	}
	for seq := int64(1); seq <= 11; seq++ {
		assert.True(t, seqs[seq], "seq %d: consecutive", seq)
	}
	got := c.messages(map[int64]int64{g.ID: 11}) // in order, once each
	assert.Len(t, got[g.ID], 11)
	count, sum := histogram(t, e, "chat_send_batch_messages")
	assert.Equal(t, uint64(2), count, "two batches")
	assert.Equal(t, 12.0, sum, "of 12 sends")
}

// histogram returns the sample count and sum of a histogram of node 0.
func histogram(t *testing.T, e *env, name string) (uint64, float64) {
	t.Helper()
	mfs, err := e.regs[0].Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			h := mf.GetMetric()[0].GetHistogram()
			return h.GetSampleCount(), h.GetSampleSum()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0, 0
}

// A batch the store cannot take answers every send in it with internal; nothing is delivered,
// and the next batch works.
func TestFailedBatchAnswersEverySenderWithInternal(t *testing.T) {
	t.Parallel()
	e, gs := gatedEnv(t)
	u := e.users(t, "alice", "bob")
	conv, err := e.store.Direct(context.Background(), u[0], u[1])
	require.NoError(t, err)
	a, b := connect(t, e.urls[0], u[0]), connect(t, e.urls[0], u[1])
	syncAll(b, map[int64]int64{conv.ID: 0})

	gs.failing.Store(true)
	a.send(protocol.Send{ConversationID: protocol.ID(conv.ID), ClientMsgID: "x", Body: "lost?"})
	recv(t, gs.entered)
	b.send(protocol.Send{ConversationID: protocol.ID(conv.ID), ClientMsgID: "y", Body: "me too"})
	gs.release <- struct{}{}
	recv(t, gs.entered)
	gs.release <- struct{}{}
	ea, eb := a.expectError(protocol.CodeInternal), b.expectError(protocol.CodeInternal)
	assert.Equal(t, "x", ea.Ref)
	assert.Equal(t, "y", eb.Ref)

	gs.failing.Store(false)
	go func() { // let the retry through
		recv(t, gs.entered)
		gs.release <- struct{}{}
	}()
	ack := a.sendText(conv.ID, "x", "retried")
	assert.False(t, ack.Duplicate)
	assert.Equal(t, int64(1), ack.Seq, "the failed batch took no seq")
	assert.Equal(t, "x", expectMessage(b).ClientMsgID)
}

// Shutdown waits for sends that were already read: they are stored and published first.
func TestShutdownWaitsForQueuedSends(t *testing.T) {
	t.Parallel()
	e, gs := gatedEnv(t)
	u := e.users(t, "alice", "bob")
	conv, err := e.store.Direct(context.Background(), u[0], u[1])
	require.NoError(t, err)
	a := connect(t, e.urls[0], u[0])
	a.send(protocol.Send{ConversationID: protocol.ID(conv.ID), ClientMsgID: "late", Body: "in flight"})
	recv(t, gs.entered)

	var wg sync.WaitGroup
	var shutdownErr error
	returned := make(chan struct{})
	wg.Go(func() {
		shutdownErr = e.gws[0].Shutdown(context.Background())
		close(returned)
	})
	select {
	case <-returned:
		t.Fatal("Shutdown returned while a send was being stored")
	case <-time.After(100 * time.Millisecond):
	}
	gs.release <- struct{}{}
	wg.Wait()
	require.NoError(t, shutdownErr)
	page, err := e.store.Since(context.Background(), conv.ID, 0, 10)
	require.NoError(t, err)
	require.Len(t, page, 1, "the send read before the shutdown was stored")
}
