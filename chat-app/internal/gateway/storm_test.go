package gateway

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/chat"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/fanout"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/protocol"
)

// device is a client that follows the protocol's client rules: per conversation it keeps
// last (its contiguous last_seq) and syncs from it on every reconnect. It counts what the
// server must never do: a seq at or below last (duplicate) or above last+1 (gap).
type device struct {
	user  int64
	convs []int64
	last  map[int64]int64
	order map[int64][]int64 // every seq applied, in order
	dups  int
	gaps  int
	conns int
}

func (d *device) apply(m protocol.Message) {
	conv := int64(m.ConversationID)
	switch {
	case m.Seq <= d.last[conv]:
		d.dups++
	case m.Seq > d.last[conv]+1:
		d.gaps++
	default:
		d.last[conv] = m.Seq
		d.order[conv] = append(d.order[conv], m.Seq)
	}
}

// session connects to url, syncs every conversation from last and applies what arrives until
// ctx ends (then it drops the connection abruptly) or until stop reports true.
func (d *device) session(ctx context.Context, t *testing.T, url string, stop func() bool) error {
	d.conns++
	dctx, cancel := context.WithTimeout(context.Background(), waitFor)
	ws, _, err := websocket.Dial(dctx, url, nil)
	cancel()
	if err != nil {
		return err
	}
	defer func() { _ = ws.CloseNow() }()
	ws.SetReadLimit(1 << 20)
	write := func(f protocol.Frame) error {
		b, _ := protocol.EncodeClient(f)
		return ws.Write(ctx, websocket.MessageText, b)
	}
	s := protocol.Sync{}
	for _, conv := range d.convs {
		s.Conversations = append(s.Conversations, protocol.SyncCursor{ConversationID: protocol.ID(conv), AfterSeq: d.last[conv]})
	}
	if write(protocol.Auth{Token: token(d.user)}) != nil || write(s) != nil {
		return nil // ctx ended: a disconnection like any other
	}
	for !stop() {
		_, b, err := ws.Read(ctx) // ctx ending drops the TCP connection: the "random disconnect"
		if err != nil {
			return nil
		}
		f, err := protocol.DecodeServer(b)
		require.NoError(t, err)
		if m, ok := f.(protocol.Message); ok {
			d.apply(m)
		}
	}
	return nil
}

func TestReconnectStormDeliversEverySeqExactlyOnceInOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{nodes: 2})
	ctx := context.Background()
	users := e.users(t, "user0", "user1", "user2", "user3", "user4", "user5")
	group, err := e.store.CreateGroup(ctx, users[0], "storm", users[1:])
	require.NoError(t, err)
	d01, err := e.store.Direct(ctx, users[0], users[1])
	require.NoError(t, err)
	d23, err := e.store.Direct(ctx, users[2], users[3])
	require.NoError(t, err)
	convsOf := map[int64][]int64{}
	for _, u := range users {
		convsOf[u] = []int64{group.ID}
	}
	convsOf[users[0]] = append(convsOf[users[0]], d01.ID)
	convsOf[users[1]] = append(convsOf[users[1]], d01.ID)
	convsOf[users[2]] = append(convsOf[users[2]], d23.ID)
	convsOf[users[3]] = append(convsOf[users[3]], d23.ID)

	// Senders: users 0..3, each posting to the group and to its direct conversation, on a
	// random node, dropping the connection now and then before the ack and retrying the same
	// client_msg_id on a new connection (so idempotency is part of the storm).
	const perSender = 150
	senders := []struct {
		user int64
		conv []int64
	}{{users[0], []int64{group.ID, d01.ID}}, {users[1], []int64{group.ID, d01.ID}},
		{users[2], []int64{group.ID, d23.ID}}, {users[3], []int64{group.ID, d23.ID}}}
	var sendersDone atomic.Int32
	var retries, dupAcks atomic.Int64
	var wg sync.WaitGroup
	for i, s := range senders {
		wg.Go(func() {
			defer sendersDone.Add(1)
			rng := rand.New(rand.NewPCG(uint64(i), 1))
			var c *client
			for n := range perSender {
				conv := s.conv[n%len(s.conv)]
				cmid := fmt.Sprintf("s%d-%d", i, n)
				for {
					if c == nil {
						c = connect(t, e.urls[rng.IntN(len(e.urls))], s.user)
					}
					if rng.IntN(8) == 0 { // send, then vanish before reading the ack
						c.send(protocol.Send{ConversationID: protocol.ID(conv), ClientMsgID: cmid, Body: "storm"})
						_ = c.ws.CloseNow()
						c = nil
						retries.Add(1)
						continue
					}
					if c.sendText(conv, cmid, "storm").Duplicate {
						dupAcks.Add(1)
					}
					c.skipped = nil
					break
				}
				time.Sleep(time.Duration(rng.IntN(6)) * time.Millisecond)
			}
		})
	}

	// Receivers: two devices per user, reconnecting to a random node every 20–150 ms.
	var devices []*device
	for _, u := range users {
		for range 2 {
			devices = append(devices, &device{user: u, convs: convsOf[u], last: map[int64]int64{}, order: map[int64][]int64{}})
		}
	}
	var dwg sync.WaitGroup
	for i, d := range devices {
		dwg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(i), 2))
			for sendersDone.Load() < int32(len(senders)) {
				sctx, cancel := context.WithTimeout(ctx, time.Duration(20+rng.IntN(130))*time.Millisecond)
				err := d.session(sctx, t, e.urls[rng.IntN(len(e.urls))], func() bool { return false })
				cancel()
				require.NoError(t, err)
			}
		})
	}
	wg.Wait()
	dwg.Wait()

	heads := map[int64]int64{}
	for _, conv := range []int64{group.ID, d01.ID, d23.ID} {
		msgs, err := e.store.History(ctx, conv, 0, 1)
		require.NoError(t, err)
		heads[conv] = msgs[0].Seq
	}
	assert.Equal(t, int64(perSender*len(senders)), heads[group.ID]+heads[d01.ID]+heads[d23.ID],
		"every send stored exactly once despite the retries")

	// A last session per device, until it holds every conversation up to its head.
	var fwg sync.WaitGroup
	for i, d := range devices {
		fwg.Go(func() {
			complete := func() bool {
				for _, conv := range d.convs {
					if d.last[conv] < heads[conv] {
						return false
					}
				}
				return true
			}
			sctx, cancel := context.WithTimeout(ctx, waitFor)
			defer cancel()
			require.NoError(t, d.session(sctx, t, e.urls[i%len(e.urls)], complete))
		})
	}
	fwg.Wait()

	gaps, dups, reconnects, delivered := 0, 0, 0, 0
	for _, d := range devices {
		gaps += d.gaps
		dups += d.dups
		reconnects += d.conns
		for _, conv := range d.convs {
			want := make([]int64, heads[conv])
			for i := range want {
				want[i] = int64(i + 1)
			}
			assert.Equal(t, want, d.order[conv], "device of user %d, conversation %d", d.user, conv)
			delivered += len(d.order[conv])
		}
	}
	t.Logf("storm: %d devices on %d nodes, %d connections, %d messages (%d send retries, %d duplicate acks), %d deliveries, gaps=%d dups=%d",
		len(devices), len(e.urls), reconnects, perSender*len(senders), retries.Load(), dupAcks.Load(), delivered, gaps, dups)
	assert.Zero(t, gaps, "gaps")
	assert.Zero(t, dups, "duplicates")
}

// TestLossyReorderingFeedIsFilledFromTheStore publishes straight onto the bus, skipping,
// repeating and reordering entries, as a Redis blip or a crashed publisher would: the
// connection must still write every seq once, in order (holes are read from the store).
func TestLossyReorderingFeedIsFilledFromTheStore(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	ctx := context.Background()
	u := e.users(t, "alice", "bob")
	conv, err := e.store.Direct(ctx, u[0], u[1])
	require.NoError(t, err)
	b := connect(t, e.urls[0], u[1])
	syncAll(b, map[int64]int64{conv.ID: 0})

	frames := map[int64]fanout.Event{}
	for i := range 6 {
		m, _, err := e.store.Append(ctx, chat.Message{ConversationID: conv.ID, SenderID: u[0],
			ClientMsgID: fmt.Sprintf("m-%d", i), Kind: chat.Text, Body: "x"})
		require.NoError(t, err)
		pm := toProtocol(m)
		fb, err := protocol.AppendMessage(nil, &pm)
		require.NoError(t, err)
		frames[m.Seq] = fanout.Event{Seq: m.Seq, From: u[0], Frame: fb}
	}
	topic := fanout.ConversationTopic(conv.ID)
	for _, seq := range []int64{2, 2, 1, 5, 4, 3, 6, 6} { // 1 lost before 2, 3..4 reordered, dups
		require.NoError(t, e.bus.Publish(ctx, topic, frames[seq]))
	}
	for seq := int64(1); seq <= 6; seq++ {
		require.Equal(t, seq, expectFrame[protocol.Message](b).Seq)
	}
	b.send(protocol.Ping{Nonce: "end"}) // nothing else was written before the pong
	assert.Equal(t, "end", expectFrame[protocol.Pong](b).Nonce)
}
