package gateway

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/fanout"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/presence"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/protocol"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/redisbus"
	"github.com/hyperscaledesignhub/DesignSystems/shared/testkit"
)

// presenceEnv is an env whose nodes share one memory presence tracker; every reported change
// is sent on notified once the notifier has published it.
type presenceEnv struct {
	*env
	tracker  *presence.Memory
	notified chan protocol.Presence
}

func newPresenceEnv(t *testing.T, nodes, groupLimit int, tune func(*Options)) *presenceEnv {
	t.Helper()
	pe := &presenceEnv{notified: make(chan protocol.Presence, 10000)}
	pe.env = newEnv(t, envOpts{nodes: nodes, tune: func(o *Options) {
		if pe.tracker == nil {
			announce := PresenceNotifier(o.Store, o.Bus, groupLimit, o.Logger)
			pe.tracker = presence.NewMemory(presence.Options{Notify: func(ctx context.Context, user int64, s presence.Status) {
				announce(ctx, user, s)
				pe.notified <- protocol.Presence{UserID: protocol.ID(user), Status: protocol.PresenceStatus(s)}
			}})
		}
		o.Presence, o.PresenceGroupLimit = pe.tracker, groupLimit
		if tune != nil {
			tune(o)
		}
	}})
	t.Cleanup(func() { _ = pe.tracker.Close() })
	return pe
}

// waitNotified waits until the notifier has published want: every presence frame it caused is
// then on the bus, ahead of anything published later on the same topic.
func (pe *presenceEnv) waitNotified(t *testing.T, want protocol.Presence) {
	t.Helper()
	for {
		select {
		case p := <-pe.notified:
			if p == want {
				return
			}
		case <-time.After(waitFor):
			t.Fatalf("presence %+v not reported within %s", want, waitFor)
		}
	}
}

// presenceUntilMarker publishes a marker frame on user's topic and returns every presence frame
// c receives before it. The memory bus keeps a topic's order, so a presence frame published
// before the marker (one that should not have been) is in the list.
func (pe *presenceEnv) presenceUntilMarker(t *testing.T, c *client, user int64) []protocol.Presence {
	t.Helper()
	marker := protocol.Membership{ConversationID: 1, UserID: protocol.ID(user), Change: protocol.MembershipAdded}
	b, err := protocol.Encode(marker)
	require.NoError(t, err)
	require.NoError(t, pe.bus.Publish(context.Background(), fanout.UserTopic(user), fanout.Event{Frame: b}))
	var got []protocol.Presence
	for {
		switch f := c.next().(type) {
		case protocol.Presence:
			got = append(got, f)
		case protocol.Membership:
			if f == marker {
				return got
			}
		}
	}
}

// presenceUntilPong sends a ping and returns the presence frames queued before its pong.
func presenceUntilPong(c *client) []protocol.Presence {
	c.t.Helper()
	c.send(protocol.Ping{Nonce: "marker"})
	var got []protocol.Presence
	for {
		switch f := c.next().(type) {
		case protocol.Presence:
			got = append(got, f)
		case protocol.Pong:
			return got
		}
	}
}

// waitPresence reads c's frames until the presence frame want arrives.
func waitPresence(c *client, want protocol.Presence) {
	c.t.Helper()
	for {
		if p, ok := c.next().(protocol.Presence); ok && p == want {
			return
		}
	}
}

func presenceOf(user int64, s protocol.PresenceStatus) protocol.Presence {
	return protocol.Presence{UserID: protocol.ID(user), Status: s}
}

func TestPresenceSnapshotAndChangesReachContacts(t *testing.T) {
	t.Parallel()
	pe := newPresenceEnv(t, 2, 0, nil)
	e, tr := pe.env, pe.tracker
	u := e.users(t, "alice", "bob")
	ctx := context.Background()
	require.NoError(t, e.store.AddContact(ctx, u[0], u[1])) // alice watches bob
	require.NoError(t, e.store.AddContact(ctx, u[1], u[0]))

	b := connect(t, e.urls[1], u[1])
	a := connect(t, e.urls[0], u[0])
	// Alice's snapshot lists bob as online; bob learns through the bus that alice came online.
	assert.Equal(t, presenceOf(u[1], protocol.StatusOnline), expectFrame[protocol.Presence](a))
	assert.Equal(t, presenceOf(u[0], protocol.StatusOnline), expectFrame[protocol.Presence](b))

	// Ping is the heartbeat; closing the session disconnects it (offline after the grace).
	a.send(protocol.Ping{Nonce: "p"})
	assert.Equal(t, "p", expectFrame[protocol.Pong](a).Nonce)
	s, err := tr.Status(ctx, u[0])
	require.NoError(t, err)
	assert.Equal(t, presence.Online, s)
	require.NoError(t, a.ws.CloseNow())
	assert.Equal(t, presenceOf(u[0], protocol.StatusOffline), expectFrame[protocol.Presence](b))
}

// Members of a group up to the limit see each other's presence without being contacts: 99
// connected members of a group of 100 (the default limit), spread over two gateways, each get
// the 100th member's change to online.
func TestPresenceReachesEveryMemberOfASmallGroup(t *testing.T) {
	t.Parallel()
	pe := newPresenceEnv(t, 2, 0, nil)
	e := pe.env
	names := make([]string, DefaultPresenceGroupLimit)
	for i := range names {
		names[i] = "member" + string(rune('a'+i/26)) + string(rune('a'+i%26))
	}
	u := e.users(t, names...)
	subject, receivers := u[0], u[1:]
	_, err := e.store.CreateGroup(context.Background(), subject, "all hands", receivers)
	require.NoError(t, err)

	clients := make([]*client, len(receivers))
	for i, r := range receivers {
		clients[i] = connect(t, e.urls[i%2], r)
	}
	connect(t, e.urls[0], subject)
	for _, c := range clients {
		waitPresence(c, presenceOf(subject, protocol.StatusOnline))
	}
}

// Above the limit nothing is pushed: a member gets the status on request (presence_query), for
// members of the conversation only; a non-member's query is refused.
func TestPresenceOfALargeGroupIsOnRequest(t *testing.T) {
	t.Parallel()
	const limit = 4
	pe := newPresenceEnv(t, 1, limit, nil)
	e := pe.env
	u := e.users(t, "subject", "anna", "ben", "cleo", "dora", "outsider")
	subject, members, outsider := u[0], u[1:5], u[5]
	conv, err := e.store.CreateGroup(context.Background(), subject, "five", members) // 5 members > 4
	require.NoError(t, err)

	clients := make([]*client, 3) // dora stays offline
	for i := range clients {
		clients[i] = connect(t, e.urls[0], members[i])
	}
	out := connect(t, e.urls[0], outsider)
	connect(t, e.urls[0], subject)
	pe.waitNotified(t, presenceOf(subject, protocol.StatusOnline))
	for i, c := range clients {
		assert.Empty(t, pe.presenceUntilMarker(t, c, members[i]), "no presence is pushed in a group above the limit")
	}

	// anna asks for the subject, ben and the outsider: the outsider is no member, so not answered.
	a := clients[0]
	a.send(protocol.PresenceQuery{ConversationID: protocol.ID(conv.ID),
		UserIDs: []protocol.ID{protocol.ID(outsider), protocol.ID(members[1]), protocol.ID(subject)}})
	got := presenceUntilPong(a)
	want := []protocol.Presence{presenceOf(subject, protocol.StatusOnline), presenceOf(members[1], protocol.StatusOnline)}
	slices.SortFunc(want, func(x, y protocol.Presence) int { return int(x.UserID - y.UserID) })
	assert.Equal(t, want, got)

	// An offline member is answered too, so a client can clear a stale dot.
	a.send(protocol.PresenceQuery{ConversationID: protocol.ID(conv.ID), UserIDs: []protocol.ID{protocol.ID(members[3])}})
	assert.Equal(t, []protocol.Presence{presenceOf(members[3], protocol.StatusOffline)}, presenceUntilPong(a))

	out.send(protocol.PresenceQuery{ConversationID: protocol.ID(conv.ID), UserIDs: []protocol.ID{protocol.ID(subject)}})
	ef := out.expectError(protocol.CodeNotMember)
	assert.Equal(t, "presence_query", ef.Ref)
}

// A member removed from a group no longer gets its members' presence, and the others' snapshot
// no longer lists them.
func TestRemovedMemberStopsSeeingPresence(t *testing.T) {
	t.Parallel()
	pe := newPresenceEnv(t, 1, 0, nil)
	e := pe.env
	u := e.users(t, "owner", "stays", "removed")
	owner, stays, removed := u[0], u[1], u[2]
	ctx := context.Background()
	conv, err := e.store.CreateGroup(ctx, owner, "trio", []int64{stays, removed})
	require.NoError(t, err)

	s := connect(t, e.urls[0], stays)
	r := connect(t, e.urls[0], removed)
	waitPresence(s, presenceOf(removed, protocol.StatusOnline)) // both were members then
	require.NoError(t, e.store.RemoveMember(ctx, owner, conv.ID, removed))

	o := connect(t, e.urls[0], owner)
	assert.Equal(t, []protocol.Presence{presenceOf(stays, protocol.StatusOnline)}, presenceUntilPong(o),
		"the owner's snapshot lists the member who stayed, not the removed one")
	pe.waitNotified(t, presenceOf(owner, protocol.StatusOnline))
	waitPresence(s, presenceOf(owner, protocol.StatusOnline))
	for _, p := range pe.presenceUntilMarker(t, r, removed) {
		assert.NotEqual(t, protocol.ID(owner), p.UserID, "the removed member got the owner's presence: %+v", p)
	}
}

// Two gateways share Redis for the bus and presence: a member connected to one sees another
// member, connected to the other, come online and go offline.
func TestPresenceAcrossTwoGatewaysOnRedis(t *testing.T) {
	t.Parallel()
	rdb := testkit.Redis(t)
	var trackers []*presence.Redis
	e := newEnv(t, envOpts{nodes: 2, tune: func(o *Options) {
		client := redis.NewClient(&redis.Options{Addr: rdb.Addr})
		bus, err := redisbus.New(client, redisbus.Options{Prefix: rdb.Prefix, Logger: o.Logger})
		require.NoError(t, err)
		tr, err := presence.NewRedis(client, rdb.Prefix, presence.Options{Notify: PresenceNotifier(o.Store, bus, 0, o.Logger),
			Grace: 200 * time.Millisecond, SweepEvery: 50 * time.Millisecond})
		require.NoError(t, err)
		trackers = append(trackers, tr)
		t.Cleanup(func() { // after the gateway's Shutdown (cleanups run last first)
			_ = tr.Close()
			_ = bus.Close()
			_ = client.Close()
		})
		o.Bus, o.Presence = bus, tr
	}})
	require.Len(t, trackers, 2)
	u := e.users(t, "ann", "bob", "cyd")
	_, err := e.store.CreateGroup(context.Background(), u[0], "across", u[1:])
	require.NoError(t, err)

	watcher := connect(t, e.urls[1], u[1])
	subject := connect(t, e.urls[0], u[0])
	waitPresence(watcher, presenceOf(u[0], protocol.StatusOnline))
	require.NoError(t, subject.ws.CloseNow())
	waitPresence(watcher, presenceOf(u[0], protocol.StatusOffline))
}
