// Package chattest is the contract every chat.Store keeps: one suite, run against the in-memory
// store and the PostgreSQL store. Besides the plain behaviour of each method it checks the
// guarantees the chat is built on, under concurrency: gapless per-conversation sequence numbers
// with many concurrent senders, exactly-once sends when retries of one client_msg_id race each
// other, one direct conversation per pair whatever the order and timing of the calls, keyset
// pages that walk a long history in both directions without a gap or a duplicate, and receipts
// that never move back.
package chattest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/chat"
)

// Run runs the contract against stores from newStore, which is called once per case, with that
// case's *testing.T, from parallel tests: each call must return a fresh, empty store, cleaned up
// with t.Cleanup.
func Run(t *testing.T, newStore func(t *testing.T) chat.Store) {
	t.Helper()
	for _, c := range []struct {
		name string
		run  func(e *env)
	}{
		{"users", users},
		{"contacts and watchers", contacts},
		{"direct conversations", directs},
		{"direct conversation is unique under concurrent calls", directRace},
		{"groups, membership and roles", groups},
		{"append", appendBasics},
		{"append validation", appendValidation},
		{"concurrent appends get gapless seqs", concurrentAppends},
		{"idempotent send", idempotentSend},
		{"racing retries create exactly one message", racingRetries},
		{"append batch", batchBasics},
		{"append batch with refused messages, retries and copies", batchMixed},
		{"concurrent batches, appends and retried batches", concurrentBatches},
		{"keyset pagination both ways", pagination},
		{"receipts and memberships", receipts},
		{"edits and deletes", editsAndDeletes},
		{"co-members of small conversations, members among", coMembers},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(&env{t: t, ctx: t.Context(), s: newStore(t)})
		})
	}
}

type env struct {
	t   *testing.T
	ctx context.Context
	s   chat.Store
}

func (e *env) user(name string) chat.User {
	e.t.Helper()
	u, err := e.s.CreateUser(e.ctx, chat.User{Username: name, DisplayName: strings.ToUpper(name), PasswordHash: "hash-" + name})
	require.NoError(e.t, err)
	return u
}

func (e *env) group(owner int64, members ...int64) chat.Conversation {
	e.t.Helper()
	c, err := e.s.CreateGroup(e.ctx, owner, "group", members)
	require.NoError(e.t, err)
	return c
}

func text(conv, sender int64, client, body string) chat.Message {
	return chat.Message{ConversationID: conv, SenderID: sender, ClientMsgID: client, Kind: chat.Text, Body: body}
}

func (e *env) send(m chat.Message) chat.Message {
	e.t.Helper()
	got, created, err := e.s.Append(e.ctx, m)
	require.NoError(e.t, err)
	require.True(e.t, created, "a new client_msg_id creates a message")
	return got
}

func (e *env) lastSeq(user, conv int64) int64 {
	e.t.Helper()
	cs, err := e.s.ConversationsOf(e.ctx, user)
	require.NoError(e.t, err)
	for _, c := range cs {
		if c.ID == conv {
			return c.LastSeq
		}
	}
	e.t.Fatalf("conversation %d not among user %d's", conv, user)
	return 0
}

// isErr asserts that err wraps want.
func (e *env) isErr(err, want error, msg string) {
	e.t.Helper()
	assert.Truef(e.t, errors.Is(err, want), "%s: got %v, want %v", msg, err, want)
}

func users(e *env) {
	t, s, ctx := e.t, e.s, e.ctx
	alice := e.user("Alice")
	assert.NotZero(t, alice.ID)
	assert.Equal(t, "Alice", alice.Username)
	assert.Equal(t, "ALICE", alice.DisplayName)
	assert.Equal(t, "hash-Alice", alice.PasswordHash)
	assert.False(t, alice.CreatedAt.IsZero())
	bob := e.user("bob")
	assert.NotEqual(t, alice.ID, bob.ID)

	_, err := s.CreateUser(ctx, chat.User{Username: "alice"})
	e.isErr(err, chat.ErrExists, "the same username in another case")
	_, err = s.CreateUser(ctx, chat.User{Username: "ALICE"})
	e.isErr(err, chat.ErrExists, "upper case")

	for _, id := range []int64{alice.ID, bob.ID} {
		u, err := s.UserByID(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, id, u.ID)
	}
	got, err := s.UserByID(ctx, alice.ID)
	require.NoError(t, err)
	assert.Equal(t, alice.Username, got.Username)
	assert.Equal(t, alice.PasswordHash, got.PasswordHash)
	assert.True(t, alice.CreatedAt.Equal(got.CreatedAt))
	for _, name := range []string{"Alice", "alice", "ALICE"} {
		u, err := s.UserByName(ctx, name)
		require.NoError(t, err, name)
		assert.Equal(t, alice.ID, u.ID, name)
	}
	_, err = s.UserByID(ctx, alice.ID+bob.ID)
	e.isErr(err, chat.ErrNotFound, "unknown id")
	_, err = s.UserByName(ctx, "carol")
	e.isErr(err, chat.ErrNotFound, "unknown name")

	for _, tc := range []struct{ name, username, display string }{
		{"empty", "", ""},
		{"too short", "ab", ""},
		{"too long", strings.Repeat("a", chat.MaxUsernameLen+1), ""},
		{"space", "a b c", ""},
		{"leading dot", ".abc", ""},
		{"non-ASCII", "jösé", ""},
		{"display name too long", "dave", strings.Repeat("x", chat.MaxDisplayNameBytes+1)},
	} {
		_, err := s.CreateUser(ctx, chat.User{Username: tc.username, DisplayName: tc.display})
		e.isErr(err, chat.ErrInvalid, tc.name)
	}
	for _, ok := range []string{"abc", strings.Repeat("z", chat.MaxUsernameLen), "a.b-c_d", "9lives"} {
		_, err := s.CreateUser(ctx, chat.User{Username: ok})
		assert.NoError(t, err, ok)
	}
}

func contacts(e *env) {
	t, s, ctx := e.t, e.s, e.ctx
	a, b, c, d := e.user("alice"), e.user("bob"), e.user("carol"), e.user("dave")
	require.NoError(t, s.AddContact(ctx, a.ID, b.ID))
	require.NoError(t, s.AddContact(ctx, a.ID, b.ID), "adding a contact twice is fine")
	require.NoError(t, s.AddContact(ctx, a.ID, c.ID))
	require.NoError(t, s.AddContact(ctx, c.ID, b.ID))

	got, err := s.Contacts(ctx, a.ID)
	require.NoError(t, err)
	ids := []int64{}
	for _, u := range got {
		ids = append(ids, u.ID)
	}
	assert.Equal(t, sorted(b.ID, c.ID), ids)
	assert.Equal(t, "bob", byID(got, b.ID).Username)

	w, err := s.Watchers(ctx, b.ID)
	require.NoError(t, err)
	assert.Equal(t, sorted(a.ID, c.ID), w, "alice and carol watch bob")
	w, err = s.Watchers(ctx, a.ID)
	require.NoError(t, err)
	assert.Empty(t, w, "contacts are one-way: nobody has alice")
	none, err := s.Contacts(ctx, d.ID)
	require.NoError(t, err)
	assert.Empty(t, none)

	e.isErr(s.AddContact(ctx, a.ID, a.ID), chat.ErrInvalid, "oneself")
	e.isErr(s.AddContact(ctx, a.ID, a.ID+b.ID+c.ID+d.ID), chat.ErrNotFound, "unknown contact")
	e.isErr(s.AddContact(ctx, a.ID+b.ID+c.ID+d.ID, a.ID), chat.ErrNotFound, "unknown owner")
}

func coMembers(e *env) {
	t, s, ctx := e.t, e.s, e.ctx
	a, b, c, d, f := e.user("alice"), e.user("bob"), e.user("carol"), e.user("dave"), e.user("frank")
	_, err := s.Direct(ctx, a.ID, f.ID)
	require.NoError(t, err)
	small := e.group(a.ID, b.ID)           // 2 members
	big := e.group(c.ID, a.ID, b.ID, d.ID) // 4 members

	for _, tc := range []struct {
		user int64
		max  int
		want []int64
	}{
		{a.ID, 3, sorted(b.ID, f.ID)}, // the group of 4 is over the limit
		{a.ID, 4, sorted(b.ID, c.ID, d.ID, f.ID)},
		{d.ID, 3, []int64{}},
		{d.ID, 4, sorted(a.ID, b.ID, c.ID)},
		{f.ID, 2, sorted(a.ID)}, // a direct conversation has two members
	} {
		got, err := s.CoMembers(ctx, tc.user, tc.max)
		require.NoError(t, err)
		assert.Equal(t, tc.want, got, "user %d, max %d", tc.user, tc.max)
	}
	// A removed member is no co-member any more.
	require.NoError(t, s.RemoveMember(ctx, a.ID, small.ID, b.ID))
	got, err := s.CoMembers(ctx, a.ID, 3)
	require.NoError(t, err)
	assert.Equal(t, sorted(f.ID), got)

	among, err := s.MembersAmong(ctx, big.ID, []int64{f.ID, d.ID, a.ID, d.ID, 0})
	require.NoError(t, err)
	assert.Equal(t, sorted(a.ID, d.ID), among, "only members, once each")
	none, err := s.MembersAmong(ctx, big.ID+small.ID, []int64{a.ID})
	require.NoError(t, err)
	assert.Empty(t, none, "an unknown conversation has no members")
}

func byID(us []chat.User, id int64) chat.User {
	for _, u := range us {
		if u.ID == id {
			return u
		}
	}
	return chat.User{}
}

func sorted(ids ...int64) []int64 {
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

func directs(e *env) {
	t, s, ctx := e.t, e.s, e.ctx
	a, b, c := e.user("alice"), e.user("bob"), e.user("carol")
	ab, err := s.Direct(ctx, a.ID, b.ID)
	require.NoError(t, err)
	assert.Equal(t, chat.Direct, ab.Kind)
	assert.Zero(t, ab.LastSeq)
	ba, err := s.Direct(ctx, b.ID, a.ID)
	require.NoError(t, err)
	assert.Equal(t, ab.ID, ba.ID, "(b, a) is (a, b)")
	ac, err := s.Direct(ctx, a.ID, c.ID)
	require.NoError(t, err)
	assert.NotEqual(t, ab.ID, ac.ID)

	ms, err := s.Members(ctx, ab.ID)
	require.NoError(t, err)
	require.Len(t, ms, 2)
	assert.Equal(t, sorted(a.ID, b.ID), []int64{ms[0].UserID, ms[1].UserID})
	_, err = s.Member(ctx, ab.ID, c.ID)
	e.isErr(err, chat.ErrNotMember, "carol in alice-bob")

	cs, err := s.ConversationsOf(ctx, a.ID)
	require.NoError(t, err)
	assert.Len(t, cs, 2)
	cs, err = s.ConversationsOf(ctx, b.ID)
	require.NoError(t, err)
	require.Len(t, cs, 1)
	assert.Equal(t, ab.ID, cs[0].ID)

	e.send(text(ab.ID, a.ID, "m1", "hi bob"))
	again, err := s.Direct(ctx, b.ID, a.ID)
	require.NoError(t, err)
	assert.Equal(t, int64(1), again.LastSeq, "an existing direct conversation comes back with its LastSeq")

	_, err = s.Direct(ctx, a.ID, a.ID)
	e.isErr(err, chat.ErrInvalid, "with oneself")
	_, err = s.Direct(ctx, a.ID, a.ID+b.ID+c.ID)
	e.isErr(err, chat.ErrNotFound, "unknown user")
	e.isErr(s.AddMember(ctx, a.ID, ab.ID, c.ID, chat.RoleMember), chat.ErrInvalid, "adding to a direct conversation")
	e.isErr(s.RemoveMember(ctx, a.ID, ab.ID, b.ID), chat.ErrInvalid, "removing from a direct conversation")
}

func directRace(e *env) {
	t, s, ctx := e.t, e.s, e.ctx
	const pairs, callers = 4, 16
	for p := range pairs {
		a, b := e.user(fmt.Sprintf("ann%d", p)), e.user(fmt.Sprintf("ben%d", p))
		ids := make([]int64, callers)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range callers {
			wg.Go(func() {
				<-start
				x, y := a.ID, b.ID
				if i%2 == 1 {
					x, y = y, x
				}
				c, err := s.Direct(ctx, x, y)
				if assert.NoError(t, err) {
					ids[i] = c.ID
				}
			})
		}
		close(start)
		wg.Wait()
		for i, id := range ids {
			assert.Equal(t, ids[0], id, "pair %d caller %d", p, i)
		}
		for _, u := range []int64{a.ID, b.ID} {
			cs, err := s.ConversationsOf(ctx, u)
			require.NoError(t, err)
			assert.Len(t, cs, 1, "pair %d: exactly one conversation exists", p)
		}
		ms, err := s.Members(ctx, ids[0])
		require.NoError(t, err)
		assert.Len(t, ms, 2)
	}
}

func groups(e *env) {
	t, s, ctx := e.t, e.s, e.ctx
	own, adm, mem, out, x := e.user("owner"), e.user("admin"), e.user("member"), e.user("outsider"), e.user("extra")
	g, err := s.CreateGroup(ctx, own.ID, "team", []int64{mem.ID, mem.ID, own.ID})
	require.NoError(t, err)
	assert.Equal(t, chat.Group, g.Kind)
	assert.Equal(t, "team", g.Title)
	ms, err := s.Members(ctx, g.ID)
	require.NoError(t, err)
	require.Len(t, ms, 2, "duplicates and the owner in the list are ignored")
	roles := map[int64]chat.Role{}
	for _, m := range ms {
		roles[m.UserID] = m.Role
		assert.Equal(t, g.ID, m.ConversationID)
		assert.False(t, m.JoinedAt.IsZero())
	}
	assert.Equal(t, map[int64]chat.Role{own.ID: chat.Owner, mem.ID: chat.RoleMember}, roles)

	role := func(u int64) chat.Role {
		m, err := s.Member(ctx, g.ID, u)
		if errors.Is(err, chat.ErrNotMember) {
			return ""
		}
		require.NoError(t, err)
		return m.Role
	}
	// Adding.
	e.isErr(s.AddMember(ctx, mem.ID, g.ID, adm.ID, chat.RoleMember), chat.ErrForbidden, "a member adds")
	e.isErr(s.AddMember(ctx, out.ID, g.ID, adm.ID, chat.RoleMember), chat.ErrNotMember, "an outsider adds")
	e.isErr(s.AddMember(ctx, own.ID, g.ID, adm.ID, chat.Owner), chat.ErrInvalid, "granting owner")
	e.isErr(s.AddMember(ctx, own.ID, g.ID, adm.ID, "boss"), chat.ErrInvalid, "an unknown role")
	e.isErr(s.AddMember(ctx, own.ID, g.ID+1, adm.ID, chat.RoleMember), chat.ErrNotFound, "an unknown group")
	e.isErr(s.AddMember(ctx, own.ID, g.ID, own.ID+adm.ID+mem.ID+out.ID+x.ID, chat.RoleMember), chat.ErrNotFound, "an unknown user")
	assert.Equal(t, chat.Role(""), role(adm.ID), "failed adds add nobody")
	require.NoError(t, s.AddMember(ctx, own.ID, g.ID, adm.ID, chat.Admin), "the owner adds an admin")
	assert.Equal(t, chat.Admin, role(adm.ID))
	e.isErr(s.AddMember(ctx, own.ID, g.ID, adm.ID, chat.RoleMember), chat.ErrExists, "already a member")
	e.isErr(s.AddMember(ctx, adm.ID, g.ID, x.ID, chat.Admin), chat.ErrForbidden, "an admin adds an admin")
	require.NoError(t, s.AddMember(ctx, adm.ID, g.ID, x.ID, chat.RoleMember), "an admin adds a member")
	assert.Equal(t, chat.RoleMember, role(x.ID))

	// Removing. Messages carry the count of removals before them (chat.Message.MemberRemovals);
	// failed removals and additions do not count.
	before, _, err := s.Append(ctx, text(g.ID, own.ID, "before-removals", "x"))
	require.NoError(t, err)
	assert.Zero(t, before.MemberRemovals)
	e.isErr(s.RemoveMember(ctx, mem.ID, g.ID, x.ID), chat.ErrForbidden, "a member removes a member")
	e.isErr(s.RemoveMember(ctx, adm.ID, g.ID, own.ID), chat.ErrForbidden, "an admin removes the owner")
	e.isErr(s.RemoveMember(ctx, own.ID, g.ID, own.ID), chat.ErrForbidden, "the owner leaves")
	e.isErr(s.RemoveMember(ctx, out.ID, g.ID, mem.ID), chat.ErrNotMember, "an outsider removes")
	e.isErr(s.RemoveMember(ctx, own.ID, g.ID, out.ID), chat.ErrNotMember, "removing an outsider")
	require.NoError(t, s.AddMember(ctx, own.ID, g.ID, out.ID, chat.Admin))
	e.isErr(s.RemoveMember(ctx, adm.ID, g.ID, out.ID), chat.ErrForbidden, "an admin removes an admin")
	require.NoError(t, s.RemoveMember(ctx, own.ID, g.ID, out.ID), "the owner removes an admin")
	require.NoError(t, s.RemoveMember(ctx, adm.ID, g.ID, x.ID), "an admin removes a member")
	require.NoError(t, s.RemoveMember(ctx, mem.ID, g.ID, mem.ID), "a member leaves")
	after, _, err := s.Append(ctx, text(g.ID, own.ID, "after-removals", "x"))
	require.NoError(t, err)
	assert.EqualValues(t, 3, after.MemberRemovals, "three removals succeeded")
	again, created, err := s.Append(ctx, text(g.ID, own.ID, "after-removals", "x"))
	require.NoError(t, err)
	assert.False(t, created)
	assert.Zero(t, again.MemberRemovals, "a retry's answer is the stored message")
	assert.Equal(t, chat.Role(""), role(out.ID))
	assert.Equal(t, chat.Role(""), role(x.ID))
	assert.Equal(t, chat.Role(""), role(mem.ID))
	ms, err = s.Members(ctx, g.ID)
	require.NoError(t, err)
	assert.Len(t, ms, 2, "owner and admin remain")

	_, _, err = s.Append(ctx, text(g.ID, mem.ID, "after-leaving", "hello?"))
	e.isErr(err, chat.ErrNotMember, "a former member sends")
	cs, err := s.ConversationsOf(ctx, mem.ID)
	require.NoError(t, err)
	assert.Empty(t, cs, "a former member no longer lists the group")
	cs, err = s.ConversationsOf(ctx, adm.ID)
	require.NoError(t, err)
	require.Len(t, cs, 1)
	assert.Equal(t, g.ID, cs[0].ID)

	_, err = s.CreateGroup(ctx, own.ID, "", nil)
	e.isErr(err, chat.ErrInvalid, "an empty title")
	_, err = s.CreateGroup(ctx, own.ID, strings.Repeat("t", chat.MaxTitleBytes+1), nil)
	e.isErr(err, chat.ErrInvalid, "a long title")
	_, err = s.CreateGroup(ctx, own.ID, "ghosts", []int64{own.ID + adm.ID + mem.ID + out.ID + x.ID})
	e.isErr(err, chat.ErrNotFound, "an unknown member")
	_, err = s.Members(ctx, g.ID+1)
	e.isErr(err, chat.ErrNotFound, "members of an unknown conversation")
	solo, err := s.CreateGroup(ctx, own.ID, "solo", nil)
	require.NoError(t, err)
	ms, err = s.Members(ctx, solo.ID)
	require.NoError(t, err)
	assert.Len(t, ms, 1)
}

func appendBasics(e *env) {
	t, s, ctx := e.t, e.s, e.ctx
	a, b, c := e.user("alice"), e.user("bob"), e.user("carol")
	g := e.group(a.ID, b.ID)
	other := e.group(b.ID, a.ID)
	var prev chat.Message
	for i := 1; i <= 5; i++ {
		sender := []int64{a.ID, b.ID}[i%2]
		m := e.send(text(g.ID, sender, fmt.Sprintf("c%d", i), fmt.Sprintf("hello %d", i)))
		assert.Equal(t, int64(i), m.Seq)
		assert.Equal(t, g.ID, m.ConversationID)
		assert.Equal(t, sender, m.SenderID)
		assert.Equal(t, chat.Text, m.Kind)
		assert.Equal(t, fmt.Sprintf("hello %d", i), m.Body)
		assert.False(t, m.CreatedAt.IsZero())
		assert.Greater(t, m.ID, prev.ID, "IDs from one generator increase")
		prev = m
	}
	first := e.send(text(other.ID, a.ID, "o1", "elsewhere"))
	assert.Equal(t, int64(1), first.Seq, "each conversation counts from 1")
	assert.Equal(t, int64(5), e.lastSeq(a.ID, g.ID))
	assert.Equal(t, int64(1), e.lastSeq(a.ID, other.ID))

	_, _, err := s.Append(ctx, text(g.ID, c.ID, "x", "let me in"))
	e.isErr(err, chat.ErrNotMember, "an outsider sends")
	_, _, err = s.Append(ctx, text(g.ID+other.ID, a.ID, "y", "nowhere"))
	e.isErr(err, chat.ErrNotMember, "to an unknown conversation")
	assert.Equal(t, int64(5), e.lastSeq(a.ID, g.ID), "failed sends take no seq")

	got, err := s.Since(ctx, g.ID, 0, 10)
	require.NoError(t, err)
	require.Len(t, got, 5)
	assert.Equal(t, prev, got[4], "what Since returns is what Append returned")
}

func appendValidation(e *env) {
	t, s, ctx := e.t, e.s, e.ctx
	a := e.user("alice")
	g := e.group(a.ID)
	base := text(g.ID, a.ID, "", "x")
	n := 0
	for _, tc := range []struct {
		name string
		edit func(m *chat.Message)
		ok   bool
	}{
		{"empty body", func(m *chat.Message) { m.Body = "" }, false},
		{"body over the limit", func(m *chat.Message) { m.Body = strings.Repeat("b", chat.MaxBodyBytes+1) }, false},
		{"body at the limit", func(m *chat.Message) { m.Body = strings.Repeat("b", chat.MaxBodyBytes) }, true},
		{"multi-byte body over the limit in bytes", func(m *chat.Message) { m.Body = strings.Repeat("é", chat.MaxBodyBytes/2+1) }, false},
		{"body not UTF-8", func(m *chat.Message) { m.Body = "\xff\xfe" }, false},
		{"empty client_msg_id", func(m *chat.Message) { m.ClientMsgID = "" }, false},
		{"client_msg_id over the limit", func(m *chat.Message) { m.ClientMsgID = strings.Repeat("c", chat.MaxClientMsgIDBytes+1) }, false},
		{"client_msg_id at the limit", func(m *chat.Message) { m.ClientMsgID = strings.Repeat("c", chat.MaxClientMsgIDBytes) }, true},
		{"unknown kind", func(m *chat.Message) { m.Kind = "poll" }, false},
		{"text with a ref_seq", func(m *chat.Message) { m.RefSeq = 1 }, false},
		{"edit without a ref_seq", func(m *chat.Message) { m.Kind = chat.Edit }, false},
		{"delete with a body", func(m *chat.Message) { m.Kind, m.RefSeq = chat.Delete, 1 }, false},
	} {
		m := base
		n++
		m.ClientMsgID = fmt.Sprintf("v%d", n)
		tc.edit(&m)
		_, created, err := s.Append(ctx, m)
		if tc.ok {
			assert.NoError(t, err, tc.name)
			assert.True(t, created, tc.name)
		} else {
			e.isErr(err, chat.ErrInvalid, tc.name)
		}
	}
	assert.Equal(t, int64(2), e.lastSeq(a.ID, g.ID), "only the two valid messages took a seq")
}

func concurrentAppends(e *env) {
	t, s, ctx := e.t, e.s, e.ctx
	const senders, each = 16, 50
	owner := e.user("owner")
	ids := make([]int64, senders)
	for i := range ids {
		ids[i] = e.user(fmt.Sprintf("sender%02d", i)).ID
	}
	g := e.group(owner.ID, ids...)
	got := make([][]chat.Message, senders)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range senders {
		wg.Go(func() {
			<-start
			for j := range each {
				m, created, err := s.Append(ctx, text(g.ID, ids[i], fmt.Sprintf("s%d-%d", i, j), fmt.Sprintf("%d/%d", i, j)))
				if !assert.NoError(t, err) || !assert.True(t, created) {
					return
				}
				got[i] = append(got[i], m)
			}
		})
	}
	close(start)
	wg.Wait()

	const total = senders * each
	seqs := map[int64]string{}
	msgIDs := map[int64]bool{}
	for i, ms := range got {
		require.Len(t, ms, each, "sender %d", i)
		for j, m := range ms {
			if j > 0 {
				assert.Greater(t, m.Seq, ms[j-1].Seq, "one sender's messages keep their order")
			}
			_, dup := seqs[m.Seq]
			assert.False(t, dup, "seq %d given twice", m.Seq)
			seqs[m.Seq] = m.Body
			assert.False(t, msgIDs[m.ID], "id %d given twice", m.ID)
			msgIDs[m.ID] = true
		}
	}
	for seq := int64(1); seq <= total; seq++ {
		_, ok := seqs[seq]
		require.True(t, ok, "seq %d missing: the sequence has a gap", seq)
	}
	assert.Equal(t, int64(total), e.lastSeq(owner.ID, g.ID))

	// The stored log agrees: 1..800 once each, with the bodies the senders were told.
	after := int64(0)
	for after < total {
		page, err := s.Since(ctx, g.ID, after, chat.MaxPageSize)
		require.NoError(t, err)
		require.NotEmpty(t, page)
		for _, m := range page {
			require.Equal(t, after+1, m.Seq)
			assert.Equal(t, seqs[m.Seq], m.Body)
			after = m.Seq
		}
	}
}

func idempotentSend(e *env) {
	t, s, ctx := e.t, e.s, e.ctx
	a, b := e.user("alice"), e.user("bob")
	g := e.group(a.ID, b.ID)
	first := e.send(text(g.ID, a.ID, "same", "once"))
	for range 3 {
		again, created, err := s.Append(ctx, text(g.ID, a.ID, "same", "once"))
		require.NoError(t, err)
		assert.False(t, created, "a retry creates nothing")
		assert.Equal(t, first, again, "a retry returns the stored message")
	}
	assert.Equal(t, int64(1), e.lastSeq(a.ID, g.ID), "retries take no seq")

	// The key is (sender, client_msg_id): another sender may reuse the string.
	theirs := e.send(text(g.ID, b.ID, "same", "mine too"))
	assert.Equal(t, int64(2), theirs.Seq)
	next := e.send(text(g.ID, a.ID, "other", "twice"))
	assert.Equal(t, int64(3), next.Seq, "the sequence continues without a gap after retries")

	page, err := s.Since(ctx, g.ID, 0, 10)
	require.NoError(t, err)
	assert.Len(t, page, 3)
}

func racingRetries(e *env) {
	t, s, ctx := e.t, e.s, e.ctx
	const rounds, retries = 10, 8
	a, b := e.user("alice"), e.user("bob")
	g := e.group(a.ID, b.ID)
	for r := range rounds {
		type result struct {
			m       chat.Message
			created bool
		}
		res := make([]result, retries)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range retries {
			wg.Go(func() {
				<-start
				m, created, err := s.Append(ctx, text(g.ID, a.ID, fmt.Sprintf("retry-%d", r), "only once"))
				if assert.NoError(t, err) {
					res[i] = result{m, created}
				}
			})
		}
		// Another sender writes to the same conversation meanwhile, so seqs are contended too.
		wg.Go(func() {
			<-start
			_, _, err := s.Append(ctx, text(g.ID, b.ID, fmt.Sprintf("noise-%d", r), "noise"))
			assert.NoError(t, err)
		})
		close(start)
		wg.Wait()
		created := 0
		for i, x := range res {
			if x.created {
				created++
			}
			assert.Equal(t, res[0].m.ID, x.m.ID, "round %d retry %d: same message ID", r, i)
			assert.Equal(t, res[0].m.Seq, x.m.Seq, "round %d retry %d: same seq", r, i)
		}
		assert.Equal(t, 1, created, "round %d: exactly one retry creates the message", r)
	}
	// 10 rounds × (1 message + 1 noise): exactly 20 messages, seqs 1..20.
	assert.Equal(t, int64(2*rounds), e.lastSeq(a.ID, g.ID))
	page, err := s.Since(ctx, g.ID, 0, chat.MaxPageSize)
	require.NoError(t, err)
	require.Len(t, page, 2*rounds)
	for i, m := range page {
		assert.Equal(t, int64(i+1), m.Seq)
	}
}

func pagination(e *env) {
	t, s, ctx := e.t, e.s, e.ctx
	const total, size = 500, 37
	a := e.user("alice")
	g := e.group(a.ID)
	for i := 1; i <= total; i++ {
		e.send(text(g.ID, a.ID, fmt.Sprintf("p%d", i), fmt.Sprintf("body %d", i)))
	}
	check := func(m chat.Message) {
		t.Helper()
		assert.Equal(t, fmt.Sprintf("body %d", m.Seq), m.Body)
		assert.Equal(t, g.ID, m.ConversationID)
	}

	// Backwards from the end, as a client scrolls up.
	var seen []int64
	pages, before := 0, int64(0)
	for {
		page, err := s.History(ctx, g.ID, before, size)
		require.NoError(t, err)
		if len(page) == 0 {
			break
		}
		pages++
		require.LessOrEqual(t, len(page), size)
		for _, m := range page {
			check(m)
			seen = append(seen, m.Seq)
		}
		before = page[len(page)-1].Seq
		require.Less(t, pages, 100, "History does not converge")
	}
	assert.Equal(t, (total+size-1)/size, pages)
	require.Len(t, seen, total)
	for i, seq := range seen {
		require.Equal(t, int64(total-i), seq, "History: newest first, no gap, no duplicate")
	}

	// Forwards from the start, as a reconnecting client catches up.
	seen, pages = nil, 0
	after := int64(0)
	for {
		page, err := s.Since(ctx, g.ID, after, size)
		require.NoError(t, err)
		if len(page) == 0 {
			break
		}
		pages++
		for _, m := range page {
			check(m)
			seen = append(seen, m.Seq)
		}
		after = page[len(page)-1].Seq
		require.Less(t, pages, 100, "Since does not converge")
	}
	assert.Equal(t, (total+size-1)/size, pages)
	require.Len(t, seen, total)
	for i, seq := range seen {
		require.Equal(t, int64(i+1), seq, "Since: oldest first, no gap, no duplicate")
	}

	// From the middle, and at the edges.
	mid, err := s.History(ctx, g.ID, 251, 3)
	require.NoError(t, err)
	assert.Equal(t, []int64{250, 249, 248}, seqsOf(mid))
	mid, err = s.Since(ctx, g.ID, 250, 3)
	require.NoError(t, err)
	assert.Equal(t, []int64{251, 252, 253}, seqsOf(mid))
	edge, err := s.History(ctx, g.ID, 1, 10)
	require.NoError(t, err)
	assert.Empty(t, edge)
	edge, err = s.Since(ctx, g.ID, total, 10)
	require.NoError(t, err)
	assert.Empty(t, edge)
	edge, err = s.History(ctx, g.ID, total+100, 2)
	require.NoError(t, err)
	assert.Equal(t, []int64{total, total - 1}, seqsOf(edge))
	full, err := s.Since(ctx, g.ID, 0, chat.MaxPageSize)
	require.NoError(t, err)
	assert.Len(t, full, chat.MaxPageSize)

	for _, limit := range []int{0, -1, chat.MaxPageSize + 1} {
		_, err := s.History(ctx, g.ID, 0, limit)
		e.isErr(err, chat.ErrInvalid, fmt.Sprintf("History limit %d", limit))
		_, err = s.Since(ctx, g.ID, 0, limit)
		e.isErr(err, chat.ErrInvalid, fmt.Sprintf("Since limit %d", limit))
	}
	_, err = s.History(ctx, g.ID, -1, 10)
	e.isErr(err, chat.ErrInvalid, "negative beforeSeq")
	_, err = s.Since(ctx, g.ID, -1, 10)
	e.isErr(err, chat.ErrInvalid, "negative afterSeq")
	_, err = s.History(ctx, g.ID+1, 0, 10)
	e.isErr(err, chat.ErrNotFound, "History of an unknown conversation")
	_, err = s.Since(ctx, g.ID+1, 0, 10)
	e.isErr(err, chat.ErrNotFound, "Since of an unknown conversation")
	empty := e.group(a.ID)
	none, err := s.History(ctx, empty.ID, 0, 10)
	require.NoError(t, err)
	assert.Empty(t, none)
}

func seqsOf(ms []chat.Message) []int64 {
	out := []int64{}
	for _, m := range ms {
		out = append(out, m.Seq)
	}
	return out
}

func receipts(e *env) {
	t, s, ctx := e.t, e.s, e.ctx
	a, b, c := e.user("alice"), e.user("bob"), e.user("carol")
	g := e.group(a.ID, b.ID)
	for i := range 10 {
		e.send(text(g.ID, a.ID, fmt.Sprintf("r%d", i), "x"))
	}
	m, err := s.Member(ctx, g.ID, b.ID)
	require.NoError(t, err)
	assert.Zero(t, m.LastDeliveredSeq)
	assert.Zero(t, m.LastReadSeq)

	mark := func(read bool, seq int64) chat.Member {
		t.Helper()
		f := s.MarkDelivered
		if read {
			f = s.MarkRead
		}
		m, err := f(ctx, g.ID, b.ID, seq)
		require.NoError(t, err)
		return m
	}
	m = mark(false, 5)
	assert.Equal(t, [2]int64{5, 0}, [2]int64{m.LastDeliveredSeq, m.LastReadSeq})
	m = mark(false, 3)
	assert.Equal(t, [2]int64{5, 0}, [2]int64{m.LastDeliveredSeq, m.LastReadSeq}, "delivery never moves back")
	m = mark(true, 4)
	assert.Equal(t, [2]int64{5, 4}, [2]int64{m.LastDeliveredSeq, m.LastReadSeq})
	m = mark(true, 2)
	assert.Equal(t, [2]int64{5, 4}, [2]int64{m.LastDeliveredSeq, m.LastReadSeq}, "read never moves back")
	m = mark(true, 8)
	assert.Equal(t, [2]int64{8, 8}, [2]int64{m.LastDeliveredSeq, m.LastReadSeq}, "reading implies delivery")
	m = mark(false, 10)
	assert.Equal(t, [2]int64{10, 8}, [2]int64{m.LastDeliveredSeq, m.LastReadSeq})
	stored, err := s.Member(ctx, g.ID, b.ID)
	require.NoError(t, err)
	assert.Equal(t, m, stored, "the returned membership is the stored one")
	alice, err := s.Member(ctx, g.ID, a.ID)
	require.NoError(t, err)
	assert.Zero(t, alice.LastDeliveredSeq, "receipts are per member")

	// MembershipsOf is ConversationsOf joined with the caller's membership, by conversation ID.
	d, err := s.Direct(ctx, b.ID, c.ID)
	require.NoError(t, err)
	ms, err := s.MembershipsOf(ctx, b.ID)
	require.NoError(t, err)
	convs, err := s.ConversationsOf(ctx, b.ID)
	require.NoError(t, err)
	require.Len(t, ms, 2)
	for i, x := range ms {
		assert.Equal(t, convs[i], x.Conversation, "the conversations of ConversationsOf, in its order")
		want, err := s.Member(ctx, x.Conversation.ID, b.ID)
		require.NoError(t, err)
		assert.Equal(t, want, x.Member, "with the caller's own membership")
	}
	assert.ElementsMatch(t, []int64{g.ID, d.ID}, []int64{ms[0].Conversation.ID, ms[1].Conversation.ID})
	none, err := s.MembershipsOf(ctx, e.user("dave").ID)
	require.NoError(t, err)
	assert.Empty(t, none)

	_, err = s.MarkDelivered(ctx, g.ID, b.ID, 11)
	e.isErr(err, chat.ErrInvalid, "delivered above LastSeq")
	_, err = s.MarkRead(ctx, g.ID, b.ID, 11)
	e.isErr(err, chat.ErrInvalid, "read above LastSeq")
	_, err = s.MarkRead(ctx, g.ID, b.ID, -1)
	e.isErr(err, chat.ErrInvalid, "negative seq")
	_, err = s.MarkRead(ctx, g.ID, c.ID, 1)
	e.isErr(err, chat.ErrNotMember, "an outsider's receipt")
	_, err = s.MarkDelivered(ctx, g.ID, c.ID, 1)
	e.isErr(err, chat.ErrNotMember, "an outsider's receipt")

	// Concurrent receipts in any order end at the highest.
	var wg sync.WaitGroup
	for seq := int64(1); seq <= 10; seq++ {
		wg.Go(func() {
			_, err := s.MarkRead(ctx, g.ID, a.ID, 11-seq)
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	alice, err = s.Member(ctx, g.ID, a.ID)
	require.NoError(t, err)
	assert.Equal(t, [2]int64{10, 10}, [2]int64{alice.LastDeliveredSeq, alice.LastReadSeq})
}

func editsAndDeletes(e *env) {
	t, s, ctx := e.t, e.s, e.ctx
	a, b := e.user("alice"), e.user("bob")
	g := e.group(a.ID, b.ID)
	other := e.group(a.ID)
	mine := e.send(text(g.ID, a.ID, "t1", "helo"))    // seq 1
	theirs := e.send(text(g.ID, b.ID, "t2", "hi"))    // seq 2
	e.send(text(other.ID, a.ID, "o1", "other"))       // seq 1 of other
	e.send(text(other.ID, a.ID, "o2", "other again")) // seq 2 of other
	require.Equal(t, int64(1), mine.Seq)

	edit := e.send(chat.Message{ConversationID: g.ID, SenderID: a.ID, ClientMsgID: "e1", Kind: chat.Edit, Body: "hello", RefSeq: mine.Seq})
	assert.Equal(t, int64(3), edit.Seq, "an edit is a new event in the log")
	assert.Equal(t, chat.Edit, edit.Kind)
	assert.Equal(t, mine.Seq, edit.RefSeq)
	del := e.send(chat.Message{ConversationID: g.ID, SenderID: b.ID, ClientMsgID: "d1", Kind: chat.Delete, RefSeq: theirs.Seq})
	assert.Equal(t, int64(4), del.Seq)
	assert.Equal(t, chat.Delete, del.Kind)
	assert.Empty(t, del.Body)

	for _, tc := range []struct {
		name string
		m    chat.Message
	}{
		{"edit of someone else's message", chat.Message{SenderID: a.ID, Kind: chat.Edit, Body: "x", RefSeq: theirs.Seq}},
		{"delete of someone else's message", chat.Message{SenderID: b.ID, Kind: chat.Delete, RefSeq: mine.Seq}},
		{"edit of an edit", chat.Message{SenderID: a.ID, Kind: chat.Edit, Body: "x", RefSeq: edit.Seq}},
		{"delete of a delete", chat.Message{SenderID: b.ID, Kind: chat.Delete, RefSeq: del.Seq}},
		{"delete of an edit", chat.Message{SenderID: a.ID, Kind: chat.Delete, RefSeq: edit.Seq}},
		{"edit of a seq not yet used", chat.Message{SenderID: a.ID, Kind: chat.Edit, Body: "x", RefSeq: 99}},
		{"edit with an empty body", chat.Message{SenderID: a.ID, Kind: chat.Edit, RefSeq: mine.Seq}},
		{"delete without a ref_seq", chat.Message{SenderID: a.ID, Kind: chat.Delete}},
	} {
		tc.m.ConversationID, tc.m.ClientMsgID = g.ID, "bad-"+tc.name
		_, _, err := s.Append(ctx, tc.m)
		e.isErr(err, chat.ErrInvalid, tc.name)
	}
	// Seq 1 is alice's text in g and in other, but not in empty: the target is looked up in the
	// message's own conversation.
	empty := e.group(a.ID)
	_, _, err := s.Append(ctx, chat.Message{ConversationID: empty.ID, SenderID: a.ID, ClientMsgID: "x-conv", Kind: chat.Edit, Body: "x", RefSeq: 1})
	e.isErr(err, chat.ErrInvalid, "edit of a seq that only exists in other conversations")
	fixed := e.send(chat.Message{ConversationID: other.ID, SenderID: a.ID, ClientMsgID: "e-other", Kind: chat.Edit, Body: "x", RefSeq: 2})
	assert.Equal(t, int64(3), fixed.Seq)
	assert.Equal(t, int64(4), e.lastSeq(a.ID, g.ID), "rejected edits and deletes take no seq")

	retry, created, err := s.Append(ctx, chat.Message{ConversationID: g.ID, SenderID: a.ID, ClientMsgID: "e1", Kind: chat.Edit, Body: "hello", RefSeq: mine.Seq})
	require.NoError(t, err)
	assert.False(t, created, "edits are idempotent like any send")
	assert.Equal(t, edit, retry)

	log, err := s.Since(ctx, g.ID, 0, 10)
	require.NoError(t, err)
	assert.Equal(t, []chat.MessageKind{chat.Text, chat.Text, chat.Edit, chat.Delete},
		[]chat.MessageKind{log[0].Kind, log[1].Kind, log[2].Kind, log[3].Kind})
}
