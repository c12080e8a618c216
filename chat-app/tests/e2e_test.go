package tests

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/api"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/apitest"
)

// TestE2EGatewaysOverRealWebSocketsAndSIGKILL runs chat-api and two chat-gateway processes on a
// real PostgreSQL and Redis. Devices of the same users sit on both gateways, in a direct and a
// group conversation: every device receives every message exactly once and in seq order. Then
// gateway A is killed with SIGKILL while everyone keeps sending: A's devices reconnect to B, sync
// from their contiguous last seq and resend their unacknowledged sends with the same
// client_msg_id. In the end every device holds every seq once, in order, and the store (read
// over HTTP) holds exactly the messages sent.
func TestE2EGatewaysOverRealWebSocketsAndSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts chat-api and two chat-gateway processes on PostgreSQL and Redis")
	}
	began := time.Now()
	c := startE2ECluster(t, 2)
	gwA, gwB := c.gateways[0], c.gateways[1]
	started := time.Now()

	alice, bob, carol := c.signup(t, "alice"), c.signup(t, "bob"), c.signup(t, "carol")
	var direct, group api.Conversation
	apitest.Call(t, http.MethodPost, c.api+"/v1/conversations/direct", alice.Token, api.DirectRequest{UserID: bob.User.ID},
		&direct, http.StatusOK)
	apitest.Call(t, http.MethodPost, c.api+"/v1/conversations/group", alice.Token,
		api.GroupRequest{Title: "e2e", MemberIDs: []api.ID{bob.User.ID, carol.User.ID}}, &group, http.StatusCreated)
	d, g := int64(direct.ID), int64(group.ID)

	// alice and bob have one device on each gateway; carol one on A. Devices on A fall back to B.
	devices := []*e2eDevice{
		newE2EDevice("alice-a", alice.Token, []int64{d, g}, gwA, gwB),
		newE2EDevice("alice-b", alice.Token, []int64{d, g}, gwB),
		newE2EDevice("bob-a", bob.Token, []int64{d, g}, gwA, gwB),
		newE2EDevice("bob-b", bob.Token, []int64{d, g}, gwB),
		newE2EDevice("carol-a", carol.Token, []int64{g}, gwA, gwB),
	}
	onA := map[string]bool{"alice-a": true, "bob-a": true, "carol-a": true}
	ctx, cancel := context.WithTimeout(t.Context(), 2*e2eWait)
	defer cancel()
	runCtx, stopDevices := context.WithCancel(ctx)
	var running sync.WaitGroup
	defer func() { stopDevices(); running.Wait() }()
	for _, dev := range devices {
		running.Go(func() { dev.run(runCtx) })
	}

	// What was sent, from the acks: conversation → client_msg_id → seq.
	var mu sync.Mutex
	acked := map[int64]map[string]int64{d: {}, g: {}}
	var retries, rateLimited, dupAcks atomic.Int64
	next := map[string]int{} // per device, its next message number
	sendOne := func(dev *e2eDevice) error {
		mu.Lock()
		n := next[dev.name]
		next[dev.name]++
		mu.Unlock()
		conv := dev.convs[n%len(dev.convs)]
		cmid := fmt.Sprintf("%s-%d", dev.name, n)
		ack, st, err := dev.send(ctx, conv, cmid, fmt.Sprintf("message %d from %s", n, dev.name))
		if err != nil {
			return err
		}
		retries.Add(int64(st.retries))
		rateLimited.Add(int64(st.rateLimited))
		if st.duplicate {
			dupAcks.Add(1)
		}
		mu.Lock()
		defer mu.Unlock()
		if int64(ack.ConversationID) != conv {
			return fmt.Errorf("ack of %s names conversation %d, sent to %d", cmid, ack.ConversationID, conv)
		}
		if prev, seen := acked[conv][cmid]; seen && prev != ack.Seq {
			return fmt.Errorf("%s acked as seq %d and %d", cmid, prev, ack.Seq)
		}
		acked[conv][cmid] = ack.Seq
		return nil
	}
	heads := func() map[int64]int64 {
		mu.Lock()
		defer mu.Unlock()
		return map[int64]int64{d: int64(len(acked[d])), g: int64(len(acked[g]))}
	}
	allHold := func(what string) {
		t.Helper()
		h := heads()
		var eg errgroup.Group
		for _, dev := range devices {
			eg.Go(func() error { return dev.holds(ctx, h) })
		}
		require.NoError(t, eg.Wait(), what)
	}

	// Phase 1: every device sends 10 messages at once, alternating between its conversations.
	const phase1 = 10
	var eg errgroup.Group
	for _, dev := range devices {
		eg.Go(func() error {
			for range phase1 {
				if err := sendOne(dev); err != nil {
					return err
				}
			}
			return nil
		})
	}
	require.NoError(t, eg.Wait())
	allHold("phase 1: every device holds every message")

	// Phase 2: everyone keeps sending; once every sender has 3 more acks, gateway A is killed.
	// Senders on B send 10 more after the kill, senders on A 3 more (over B, after reconnecting).
	var killed atomic.Bool
	var warm sync.WaitGroup
	warm.Add(len(devices))
	var eg2 errgroup.Group
	for _, dev := range devices {
		eg2.Go(func() error {
			warmed := false
			defer func() {
				if !warmed { // failed early: do not hold up the kill
					warm.Done()
				}
			}()
			after := 10
			if onA[dev.name] {
				after = 3
			}
			for i := 0; ; i++ {
				if i == 3 {
					warmed = true
					warm.Done()
				}
				if err := sendOne(dev); err != nil {
					return err
				}
				if killed.Load() {
					if after--; after == 0 {
						return nil
					}
				}
			}
		})
	}
	warm.Wait()
	beforeKill := heads()
	require.NoError(t, c.procs[1].Signal(syscall.SIGKILL), "gateway A is procs[1]")
	killed.Store(true)
	require.NoError(t, eg2.Wait())
	allHold("after the SIGKILL: every device holds every message")

	// A client that lost an ack in the crash resends: the store answers with the original.
	for _, dev := range devices {
		cmid := dev.name + "-0"
		conv := dev.convs[0]
		ack, st, err := dev.send(ctx, conv, cmid, "resent")
		require.NoError(t, err)
		assert.True(t, st.duplicate, "%s resent after it was acked", cmid)
		mu.Lock()
		assert.Equal(t, acked[conv][cmid], ack.Seq, "the original seq of %s", cmid)
		mu.Unlock()
	}

	// The store, over HTTP: exactly the acked messages, seq 1..n, each once; every device got
	// exactly that log, in that order.
	h := heads()
	gaps, dups, reconnects, deliveries := 0, 0, 0, 0
	for _, conv := range []int64{d, g} {
		log := c.history(t, alice.Token, conv)
		require.Len(t, log, int(h[conv]), "conversation %d: stored entries = distinct messages sent", conv)
		want := make([]string, len(log))
		seen := map[string]bool{}
		for i, m := range log {
			require.Equal(t, int64(i+1), m.Seq, "conversation %d: seqs 1..n", conv)
			require.False(t, seen[m.ClientMsgID], "conversation %d: %s stored twice", conv, m.ClientMsgID)
			seen[m.ClientMsgID] = true
			require.Equal(t, acked[conv][m.ClientMsgID], m.Seq, "conversation %d: %s stored at its acked seq", conv, m.ClientMsgID)
			want[i] = m.ClientMsgID
		}
		for _, dev := range devices {
			dev.mu.Lock()
			got := dev.order[conv]
			dev.mu.Unlock()
			if len(dev.convs) == 1 && conv == d {
				continue // carol is not in the direct conversation
			}
			assert.Equal(t, want, got, "%s, conversation %d: every seq once, in order", dev.name, conv)
			deliveries += len(got)
		}
	}
	for _, dev := range devices {
		dev.mu.Lock()
		gaps += dev.gaps
		dups += dev.dups
		reconnects += dev.conns - 1
		if onA[dev.name] {
			assert.GreaterOrEqual(t, dev.conns, 2, "%s reconnected after the SIGKILL", dev.name)
		} else {
			assert.Equal(t, 1, dev.conns, "%s on B kept its connection", dev.name)
		}
		dev.mu.Unlock()
	}
	assert.Zero(t, gaps, "gaps")
	assert.Zero(t, dups, "duplicates")
	exited, _ := c.procs[1].Exited()
	assert.True(t, exited, "gateway A is dead")

	t.Logf("e2e: chat-api + 2 gateways (PostgreSQL, Redis); %d devices of 3 users, 2 conversations; "+
		"%d messages (%d acked before the SIGKILL of gateway A, %d direct, %d group), %d deliveries; "+
		"%d reconnects A→B, %d sends resent after a drop (%d duplicate acks) + %d deliberate resends of acked sends (all duplicate), "+
		"%d rate-limited resends; "+
		"stored %d = sent, gaps=%d dups=%d; %s (%s of it with the processes up)",
		len(devices), h[d]+h[g], beforeKill[d]+beforeKill[g], h[d], h[g], deliveries, reconnects, retries.Load(), dupAcks.Load(),
		len(devices), rateLimited.Load(), h[d]+h[g], gaps, dups, time.Since(began).Round(time.Millisecond),
		time.Since(started).Round(time.Millisecond))
}
