// Package fanouttest is the contract suite every fanout.Bus passes: per-topic order and
// exactly-once delivery per subscription on two nodes, ref-counted subscriptions, isolation of
// topics and a Close that leaves no goroutine behind.
package fanouttest

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/fanout"
)

// NewNodes returns two "nodes" sharing one backend (for Memory: the same bus twice). The suite
// closes both (Close must tolerate being called twice with the same bus).
type NewNodes func(t *testing.T) (a, b fanout.Bus)

// Run runs the contract suite. It counts goroutines, so call it from a test that is not parallel
// (its subtests run in parallel with each other after the goroutine check).
func Run(t *testing.T, newNodes NewNodes) {
	// First and alone: the goroutine count must not move because of another subtest.
	t.Run("CloseStopsEverything", func(t *testing.T) { testClose(t, newNodes) })

	t.Run("EveryEventOnceInOrderOnTwoNodes", func(t *testing.T) {
		t.Parallel()
		testOrder(t, newNodes)
	})
	t.Run("CancelStopsDelivery", func(t *testing.T) {
		t.Parallel()
		testCancel(t, newNodes)
	})
	t.Run("RefCountedSubscriptions", func(t *testing.T) {
		t.Parallel()
		testRefCount(t, newNodes)
	})
	t.Run("OnlySubscribedTopics", func(t *testing.T) {
		t.Parallel()
		testIsolation(t, newNodes)
	})
	t.Run("EventFieldsSurvive", func(t *testing.T) {
		t.Parallel()
		testFields(t, newNodes)
	})
}

func nodes(t *testing.T, newNodes NewNodes) (a, b fanout.Bus) {
	t.Helper()
	a, b = newNodes(t)
	t.Cleanup(func() {
		_ = a.Close()
		_ = b.Close()
	})
	return a, b
}

// uniq keeps topics of concurrent subtests (and of other tests on a shared Redis) apart.
func uniq(t *testing.T, name string) string {
	return fmt.Sprintf("%s/%s/%d", t.Name(), name, time.Now().UnixNano())
}

// recorder collects the events one subscription received.
type recorder struct {
	mu     sync.Mutex
	events []fanout.Event
}

func (r *recorder) handle(e fanout.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *recorder) snapshot() []fanout.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]fanout.Event(nil), r.events...)
}

func (r *recorder) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.events)
}

func subscribe(t *testing.T, bus fanout.Bus, topic string) (*recorder, func()) {
	t.Helper()
	r := &recorder{}
	cancel, err := bus.Subscribe(topic, r.handle)
	require.NoError(t, err, "subscribe %s", topic)
	return r, cancel
}

// frame encodes (publisher, n) so that a receiver can check per-publisher order.
func frame(publisher, n int) []byte {
	b := make([]byte, 16)
	binary.BigEndian.PutUint64(b, uint64(publisher))
	binary.BigEndian.PutUint64(b[8:], uint64(n))
	return b
}

func unframe(b []byte) (publisher, n int) {
	return int(binary.BigEndian.Uint64(b)), int(binary.BigEndian.Uint64(b[8:]))
}

const (
	waitFor = 20 * time.Second
	tick    = 5 * time.Millisecond
)

// 1000 events on each of 3 topics, from 4 concurrent publishers per topic split across both
// nodes: each subscription on each node gets every event of its topic exactly once, and each
// publisher's events in its publish order.
func testOrder(t *testing.T, newNodes NewNodes) {
	a, b := nodes(t, newNodes)
	const (
		topics     = 3
		publishers = 4
		perPub     = 250 // 1000 events per topic
	)
	names := make([]string, topics)
	recs := make([][2]*recorder, topics)
	for i := range names {
		names[i] = uniq(t, "t"+strconv.Itoa(i))
		recs[i][0], _ = subscribe(t, a, names[i])
		recs[i][1], _ = subscribe(t, b, names[i])
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	for ti, name := range names {
		for p := range publishers {
			bus := a
			if p%2 == 1 {
				bus = b
			}
			wg.Go(func() {
				for n := range perPub {
					e := fanout.Event{Seq: int64(n + 1), From: int64(p), Frame: frame(ti*publishers+p, n)}
					if err := bus.Publish(ctx, name, e); err != nil {
						t.Errorf("publish %s: %v", name, err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	for ti := range names {
		for node, r := range recs[ti] {
			require.Eventually(t, func() bool { return r.len() >= publishers*perPub }, waitFor, tick,
				"topic %d node %d got %d of %d", ti, node, r.len(), publishers*perPub)
		}
	}
	for ti := range names {
		for node, r := range recs[ti] {
			next := make(map[int]int) // publisher -> next n expected
			got := r.snapshot()
			assert.Len(t, got, publishers*perPub, "topic %d node %d: exactly once", ti, node)
			for _, e := range got {
				p, n := unframe(e.Frame)
				require.Equal(t, ti, p/publishers, "topic %d node %d got another topic's event", ti, node)
				require.Equal(t, next[p], n, "topic %d node %d publisher %d out of order", ti, node, p)
				require.Equal(t, int64(n+1), e.Seq)
				next[p]++
			}
		}
	}
}

// After cancel returns, the handler gets nothing more, while a subscriber that stays keeps
// receiving (and serves as the fence: per-topic order means it saw what the other would have).
func testCancel(t *testing.T, newNodes NewNodes) {
	a, b := nodes(t, newNodes)
	topic := uniq(t, "conv")
	ctx := context.Background()
	gone, cancelGone := subscribe(t, b, topic)
	stays, _ := subscribe(t, b, topic)
	other, _ := subscribe(t, a, topic)

	for n := range 10 {
		require.NoError(t, a.Publish(ctx, topic, fanout.Event{Seq: int64(n + 1), Frame: frame(0, n)}))
	}
	require.Eventually(t, func() bool { return gone.len() == 10 && stays.len() == 10 && other.len() == 10 },
		waitFor, tick)

	cancelGone()
	cancelGone() // idempotent
	for n := 10; n < 20; n++ {
		require.NoError(t, a.Publish(ctx, topic, fanout.Event{Seq: int64(n + 1), Frame: frame(0, n)}))
	}
	require.Eventually(t, func() bool { return stays.len() == 20 && other.len() == 20 }, waitFor, tick)
	assert.Equal(t, 10, gone.len(), "cancelled subscription received events published after cancel")

	// Cancelling the last subscription of a topic on a node stops that node's delivery entirely,
	// and subscribing again works.
	cancelA, err := a.Subscribe(topic, func(fanout.Event) {})
	require.NoError(t, err)
	cancelA()
	again, cancelAgain := subscribe(t, b, topic)
	defer cancelAgain()
	require.NoError(t, a.Publish(ctx, topic, fanout.Event{Seq: 21, Frame: frame(0, 20)}))
	require.Eventually(t, func() bool { return again.len() == 1 && stays.len() == 21 }, waitFor, tick)
}

// Two subscribers on one node each get every event; cancelling one leaves the other.
func testRefCount(t *testing.T, newNodes NewNodes) {
	a, b := nodes(t, newNodes)
	topic := uniq(t, "user")
	ctx := context.Background()
	first, cancelFirst := subscribe(t, b, topic)
	second, cancelSecond := subscribe(t, b, topic)

	for n := range 50 {
		require.NoError(t, a.Publish(ctx, topic, fanout.Event{Frame: frame(0, n)}))
	}
	require.Eventually(t, func() bool { return first.len() == 50 && second.len() == 50 }, waitFor, tick)

	cancelFirst()
	for n := 50; n < 100; n++ {
		require.NoError(t, a.Publish(ctx, topic, fanout.Event{Frame: frame(0, n)}))
	}
	require.Eventually(t, func() bool { return second.len() == 100 }, waitFor, tick,
		"the remaining subscriber keeps the node subscribed")
	assert.Equal(t, 50, first.len())
	for i, e := range second.snapshot() {
		_, n := unframe(e.Frame)
		require.Equal(t, i, n)
	}

	cancelSecond()
	// Subscribing again after the count dropped to zero re-subscribes the node.
	third, cancelThird := subscribe(t, b, topic)
	defer cancelThird()
	require.NoError(t, a.Publish(ctx, topic, fanout.Event{Frame: frame(0, 100)}))
	require.Eventually(t, func() bool { return third.len() == 1 }, waitFor, tick)
	assert.Equal(t, 100, second.len())
}

// A node gets only the topics it subscribed to. The fence: a topic both subscribe to, published
// after the others, from the same publisher.
func testIsolation(t *testing.T, newNodes NewNodes) {
	a, b := nodes(t, newNodes)
	onlyA, onlyB, both := uniq(t, "a"), uniq(t, "b"), uniq(t, "both")
	ctx := context.Background()

	var mu sync.Mutex
	seen := map[string][]string{}
	handler := func(node, topic string) func(fanout.Event) {
		return func(fanout.Event) {
			mu.Lock()
			seen[node] = append(seen[node], topic)
			mu.Unlock()
		}
	}
	for _, s := range []struct {
		bus   fanout.Bus
		node  string
		topic string
	}{{a, "a", onlyA}, {b, "b", onlyB}, {a, "a", both}, {b, "b", both}} {
		_, err := s.bus.Subscribe(s.topic, handler(s.node, s.topic))
		require.NoError(t, err)
	}
	require.NoError(t, a.Publish(ctx, onlyA, fanout.Event{Frame: []byte("x")}))
	require.NoError(t, a.Publish(ctx, onlyB, fanout.Event{Frame: []byte("x")}))
	require.NoError(t, a.Publish(ctx, uniq(t, "nobody"), fanout.Event{Frame: []byte("x")}))
	require.NoError(t, a.Publish(ctx, both, fanout.Event{Frame: []byte("x")}))
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen["a"]) == 2 && len(seen["b"]) == 2
	}, waitFor, tick)
	mu.Lock()
	defer mu.Unlock()
	assert.ElementsMatch(t, []string{onlyA, both}, seen["a"])
	assert.ElementsMatch(t, []string{onlyB, both}, seen["b"])
}

// Seq, From and Frame arrive as published, including an empty frame, negative numbers and a
// frame of 64 KiB, and the publisher may reuse its buffer once Publish returns.
func testFields(t *testing.T, newNodes NewNodes) {
	a, b := nodes(t, newNodes)
	topic := uniq(t, "fields")
	r, _ := subscribe(t, b, topic)
	big := make([]byte, 64<<10)
	for i := range big {
		big[i] = byte(i)
	}
	sent := []fanout.Event{
		{Seq: 1, From: 42, Removals: 2, Frame: []byte(`{"type":"message"}`)},
		{Seq: 0, From: 0, Frame: []byte{}},
		{Seq: -7, From: 1<<62 + 3, Removals: 1 << 40, Frame: big},
	}
	buf := make([]byte, 0, 64)
	for _, e := range sent {
		buf = append(buf[:0], e.Frame...)
		require.NoError(t, a.Publish(context.Background(), topic, fanout.Event{Seq: e.Seq, From: e.From, Removals: e.Removals, Frame: buf}))
		for i := range buf {
			buf[i] = 0xff // the bus must have copied
		}
	}
	require.Eventually(t, func() bool { return r.len() == len(sent) }, waitFor, tick)
	for i, e := range r.snapshot() {
		assert.Equal(t, sent[i].Seq, e.Seq)
		assert.Equal(t, sent[i].From, e.From)
		assert.Equal(t, sent[i].Removals, e.Removals)
		assert.True(t, bytes.Equal(sent[i].Frame, e.Frame), "frame %d", i)
	}

	// A cancelled context fails Publish.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.Error(t, a.Publish(ctx, topic, fanout.Event{Frame: []byte("x")}))
}

// Close ends delivery and every goroutine the buses started; afterwards Publish and Subscribe
// fail. The goroutine count is compared after it settles, never after a fixed sleep.
func testClose(t *testing.T, newNodes NewNodes) {
	before := runtime.NumGoroutine()
	a, b := newNodes(t)
	topic := uniq(t, "close")
	ra, _ := subscribe(t, a, topic)
	rb, _ := subscribe(t, b, topic)
	for n := range 10 {
		require.NoError(t, a.Publish(context.Background(), uniq(t, "t"+strconv.Itoa(n)), fanout.Event{}))
		_, err := b.Subscribe(uniq(t, "s"+strconv.Itoa(n)), func(fanout.Event) {})
		require.NoError(t, err)
	}
	require.NoError(t, b.Publish(context.Background(), topic, fanout.Event{Frame: []byte("x")}))
	require.Eventually(t, func() bool { return ra.len() == 1 && rb.len() == 1 }, waitFor, tick)

	require.NoError(t, a.Close())
	_ = b.Close() // the same bus as a for Memory
	assert.ErrorIs(t, b.Publish(context.Background(), topic, fanout.Event{}), fanout.ErrClosed)
	_, err := a.Subscribe(topic, func(fanout.Event) {})
	assert.ErrorIs(t, err, fanout.ErrClosed)

	// Polled here, not with assert.Eventually: that runs the condition on a goroutine of its own.
	now := runtime.NumGoroutine()
	for deadline := time.Now().Add(waitFor); now > before && time.Now().Before(deadline); now = runtime.NumGoroutine() {
		time.Sleep(10 * time.Millisecond)
	}
	if now > before {
		buf := make([]byte, 1<<20)
		t.Errorf("goroutines: %d before, %d after Close\n%s", before, now, buf[:runtime.Stack(buf, true)])
	}
	assert.Equal(t, 1, ra.len())
	assert.Equal(t, 1, rb.len())
}
