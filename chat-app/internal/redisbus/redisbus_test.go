package redisbus_test

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/fanout"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/fanout/fanouttest"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/redisbus"
	"github.com/hyperscaledesignhub/DesignSystems/shared/testkit"
)

// Not parallel: the suite counts goroutines.
func TestBusContract(t *testing.T) {
	env := testkit.Redis(t)
	fanouttest.Run(t, func(t *testing.T) (a, b fanout.Bus) {
		// Each node has its own client, as two processes would.
		return newNode(t, env.Addr, env.Prefix), newNode(t, env.Addr, env.Prefix)
	})
}

func newNode(t *testing.T, addr, prefix string) *redisbus.Bus {
	t.Helper()
	client := redis.NewClient(&redis.Options{Addr: addr})
	bus, err := redisbus.New(client, redisbus.Options{Prefix: prefix, HealthCheck: 200 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = bus.Close()
		_ = client.Close()
	})
	return bus
}

// PublishAll reaches the subscribers of every topic, on another node, in one call.
func TestPublishAll(t *testing.T) {
	t.Parallel()
	env := testkit.Redis(t)
	a, b := newNode(t, env.Addr, env.Prefix), newNode(t, env.Addr, env.Prefix)
	topics := []string{fanout.UserTopic(1), fanout.UserTopic(2), fanout.UserTopic(3)}
	got := make(chan string, 10)
	for _, topic := range topics {
		cancel, err := b.Subscribe(topic, func(e fanout.Event) { got <- topic + "=" + string(e.Frame) })
		require.NoError(t, err)
		t.Cleanup(cancel)
	}
	require.NoError(t, fanout.PublishAll(context.Background(), a, topics, fanout.Event{From: 9, Frame: []byte("p")}))
	var seen []string
	for range topics {
		select {
		case s := <-got:
			seen = append(seen, s)
		case <-time.After(10 * time.Second):
			t.Fatalf("got only %v", seen)
		}
	}
	assert.ElementsMatch(t, []string{"u:1=p", "u:2=p", "u:3=p"}, seen)
	require.NoError(t, a.Close())
	assert.ErrorIs(t, a.PublishAll(context.Background(), topics, fanout.Event{}), fanout.ErrClosed)
}

func TestEncodeDecode(t *testing.T) {
	t.Parallel()
	for _, e := range []fanout.Event{
		{},
		{Seq: 1, From: 2, Removals: 3, Frame: []byte("{}")},
		{Seq: -1, From: 1 << 62, Removals: 1<<62 + 1, Frame: make([]byte, 5000)},
	} {
		b := redisbus.Encode(e)
		require.Len(t, b, 24+len(e.Frame))
		got, err := redisbus.Decode(b)
		require.NoError(t, err)
		assert.Equal(t, e.Seq, got.Seq)
		assert.Equal(t, e.From, got.From)
		assert.Equal(t, e.Removals, got.Removals)
		assert.Equal(t, len(e.Frame), len(got.Frame))
	}
	assert.Equal(t, []byte{0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 2, 'x'},
		redisbus.Encode(fanout.Event{Seq: 7, From: 9, Removals: 2, Frame: []byte("x")}), "big-endian seq | from | removals | frame")
	_, err := redisbus.Decode(make([]byte, 23))
	assert.Error(t, err)
}

// The channel is <prefix>chat:v2:<topic>, and a message that is not an event is skipped without
// stopping the events after it.
func TestChannelNameAndMalformedMessage(t *testing.T) {
	t.Parallel()
	env := testkit.Redis(t)
	bus := newNode(t, env.Addr, env.Prefix)
	ch := env.Prefix + "chat:v2:c:5"
	assert.Equal(t, ch, bus.Channel(fanout.ConversationTopic(5)))

	got := make(chan fanout.Event, 4)
	_, err := bus.Subscribe("c:5", func(e fanout.Event) { got <- e })
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, env.Client.Publish(ctx, ch, "short").Err())
	require.NoError(t, env.Client.Publish(ctx, ch,
		redisbus.Encode(fanout.Event{Seq: 3, Frame: []byte("ok")})).Err())
	select {
	case e := <-got:
		assert.Equal(t, int64(3), e.Seq)
		assert.Equal(t, "ok", string(e.Frame))
	case <-time.After(10 * time.Second):
		t.Fatal("no event")
	}
}

// Subscribe returns only once Redis confirmed the subscription: an event published by another
// node right after Subscribe returns is never missed.
func TestSubscribeIsActiveOnReturn(t *testing.T) {
	t.Parallel()
	env := testkit.Redis(t)
	a, b := newNode(t, env.Addr, env.Prefix), newNode(t, env.Addr, env.Prefix)
	ctx := context.Background()
	for i := range 50 {
		topic := fanout.ConversationTopic(int64(i))
		got := make(chan struct{}, 1)
		cancel, err := b.Subscribe(topic, func(fanout.Event) { got <- struct{}{} })
		require.NoError(t, err)
		require.NoError(t, a.Publish(ctx, topic, fanout.Event{}))
		select {
		case <-got:
		case <-time.After(10 * time.Second):
			t.Fatalf("event %d published right after Subscribe was lost", i)
		}
		cancel()
	}
}

// cutProxy forwards TCP to a backend; cut closes every connection and refuses new ones until
// restore, like a network partition or a Redis restart.
type cutProxy struct {
	ln      net.Listener
	backend string
	down    atomic.Bool
	mu      sync.Mutex
	conns   []net.Conn
	wg      sync.WaitGroup
}

func newCutProxy(t *testing.T, backend string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &cutProxy{ln: ln, backend: backend}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() {
		_ = p.ln.Close()
		p.cut()
		p.wg.Wait()
	})
	return p
}

func (p *cutProxy) addr() string { return p.ln.Addr().String() }

func (p *cutProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if p.down.Load() {
			_ = c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.backend)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pump(up, c)
		go p.pump(c, up)
	}
}

func (p *cutProxy) pump(dst, src net.Conn) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			_ = dst.Close()
			return
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			_ = src.Close()
			return
		}
	}
}

func (p *cutProxy) cut() {
	p.down.Store(true)
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
}

func (p *cutProxy) restore() { p.down.Store(false) }

// After the link to Redis is cut and comes back, the node re-subscribes on its own (go-redis
// reconnects the PubSub connection and re-sends SUBSCRIBE for every channel it holds): events
// published after the link is back all arrive, in order, on both of its topics. What was
// published during the cut may be lost; that is the documented at-most-once contract.
func TestResubscribesAfterRedisBlip(t *testing.T) {
	t.Parallel()
	env := testkit.Redis(t)
	proxy := newCutProxy(t, env.Addr)
	publisher := newNode(t, env.Addr, env.Prefix)
	behind := newNode(t, proxy.addr(), env.Prefix) // this node's link gets cut

	var mu sync.Mutex
	got := map[string][]int64{}
	for _, topic := range []string{"c:1", "u:2"} {
		_, err := behind.Subscribe(topic, func(e fanout.Event) {
			mu.Lock()
			got[topic] = append(got[topic], e.Seq)
			mu.Unlock()
		})
		require.NoError(t, err)
	}
	count := func(topic string) int {
		mu.Lock()
		defer mu.Unlock()
		return len(got[topic])
	}
	ctx := context.Background()
	require.NoError(t, publisher.Publish(ctx, "c:1", fanout.Event{Seq: 1}))
	require.Eventually(t, func() bool { return count("c:1") == 1 }, 10*time.Second, 5*time.Millisecond)

	proxy.cut()
	for seq := int64(2); seq <= 20; seq++ {
		require.NoError(t, publisher.Publish(ctx, "c:1", fanout.Event{Seq: seq})) // lost
	}
	proxy.restore()

	// Probe until the node hears again: the first probe that arrives proves it re-subscribed.
	const probe = -1
	require.Eventually(t, func() bool {
		_ = publisher.Publish(ctx, "c:1", fanout.Event{Seq: probe})
		_ = publisher.Publish(ctx, "u:2", fanout.Event{Seq: probe})
		return count("c:1") > 1 && count("u:2") > 0
	}, 20*time.Second, 50*time.Millisecond, "node never re-subscribed")

	mu.Lock()
	got = map[string][]int64{}
	mu.Unlock()
	for seq := int64(100); seq < 200; seq++ {
		require.NoError(t, publisher.Publish(ctx, "c:1", fanout.Event{Seq: seq}))
		require.NoError(t, publisher.Publish(ctx, "u:2", fanout.Event{Seq: seq}))
	}
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return lastIs(got["c:1"], 199) && lastIs(got["u:2"], 199)
	}, 20*time.Second, 5*time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	for _, topic := range []string{"c:1", "u:2"} {
		var after []int64
		for _, s := range got[topic] {
			if s != probe { // late probes may still trickle in
				after = append(after, s)
			}
		}
		require.Len(t, after, 100, "every event published after the link came back, on %s", topic)
		for i, s := range after {
			require.Equal(t, int64(100+i), s, "order on %s", topic)
		}
	}

	// And a new subscription on the reconnected node works.
	fresh := make(chan struct{}, 1)
	_, err := behind.Subscribe("c:3", func(fanout.Event) { fresh <- struct{}{} })
	require.NoError(t, err)
	require.NoError(t, publisher.Publish(ctx, "c:3", fanout.Event{}))
	select {
	case <-fresh:
	case <-time.After(10 * time.Second):
		t.Fatal("subscription after the blip got nothing")
	}
}

func lastIs(s []int64, v int64) bool { return len(s) > 0 && s[len(s)-1] == v }
