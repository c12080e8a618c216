package gateway

import (
	"context"
	"log/slog"
	"slices"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/chat"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/fanout"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/presence"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/protocol"
)

// Presence fan-out (docs/adr/0007-presence-audience.md): a user's status change is pushed to the
// user topic of each of their watchers (who have them as a contact) and each co-member of a
// conversation with at most the presence group limit of members. Members of larger groups ask
// (presence_query): pushing every change of N members to N-1 others costs N × (N-1) frames per
// round of changes, which for a group of 10,000 is 10^8.
const (
	DefaultPresenceGroupLimit = 100
	// PresenceQueryRate and PresenceQueryBurst bound each user's presence_query frames (on one
	// gateway): a member list being scrolled, not a poll loop over a whole large group.
	PresenceQueryRate  = 2 // per second
	PresenceQueryBurst = 10
)

// PresenceNotifier is the presence.Notify that turns a user's status change into a presence
// frame on the user topic of each user who sees it (presenceAudience); every gateway node
// delivers it to their connected sessions. groupLimit <= 0 means DefaultPresenceGroupLimit.
func PresenceNotifier(store chat.Store, bus fanout.Bus, groupLimit int, log *slog.Logger) presence.Notify {
	if groupLimit <= 0 {
		groupLimit = DefaultPresenceGroupLimit
	}
	return func(ctx context.Context, user int64, s presence.Status) {
		b, err := protocol.Encode(protocol.Presence{UserID: protocol.ID(user), Status: protocol.PresenceStatus(s)})
		if err != nil {
			log.Error("encode presence", "err", err)
			return
		}
		audience, err := presenceAudience(ctx, store, user, groupLimit)
		if err != nil {
			log.Warn("presence audience", "user", user, "err", err)
			return
		}
		topics := make([]string, len(audience))
		for i, w := range audience {
			topics[i] = fanout.UserTopic(w)
		}
		// One pipelined round trip on Redis: the tracker reports changes one at a time per process.
		if err := fanout.PublishAll(ctx, bus, topics, fanout.Event{From: user, Frame: b}); err != nil {
			log.Warn("publish presence", "user", user, "recipients", len(topics), "err", err)
		}
	}
}

// presenceAudience are the users who see user's presence pushed: watchers and co-members of
// conversations up to groupLimit members, each once, by ID. The relation of co-members is
// symmetric, so it also names whose presence user's snapshot lists (with user's contacts).
func presenceAudience(ctx context.Context, store chat.Store, user int64, groupLimit int) ([]int64, error) {
	watchers, err := store.Watchers(ctx, user)
	if err != nil {
		return nil, err
	}
	co, err := store.CoMembers(ctx, user, groupLimit)
	if err != nil {
		return nil, err
	}
	return union(watchers, co), nil
}

// union merges sorted ID lists into one sorted list without duplicates.
func union(a, b []int64) []int64 {
	out := append(append(make([]int64, 0, len(a)+len(b)), a...), b...)
	slices.Sort(out)
	return slices.Compact(out)
}

// presenceSnapshot sends one presence frame per contact or co-member of a small conversation
// who is online or away.
func (c *conn) presenceSnapshot(ctx context.Context) {
	p := c.g.o.Presence
	if p == nil {
		return
	}
	contacts, err := c.g.o.Store.Contacts(ctx, c.user)
	if err != nil {
		c.log.Warn("presence snapshot", "err", err)
		return
	}
	co, err := c.g.o.Store.CoMembers(ctx, c.user, c.g.o.PresenceGroupLimit)
	if err != nil {
		c.log.Warn("presence snapshot", "err", err)
		return
	}
	ids := make([]int64, len(contacts))
	for i, u := range contacts {
		ids[i] = u.ID
	}
	c.sendPresence(ctx, union(ids, co), false)
}

// sendPresence queues the status of each of users; offline ones too when all is set.
func (c *conn) sendPresence(ctx context.Context, users []int64, all bool) bool {
	statuses, err := c.g.o.Presence.Statuses(ctx, users)
	if err != nil {
		c.log.Warn("presence statuses", "err", err)
		return false
	}
	for i, s := range statuses {
		if all || s == presence.Online || s == presence.Away {
			c.enqueue(protocol.Presence{UserID: protocol.ID(users[i]), Status: protocol.PresenceStatus(s)})
		}
	}
	return true
}

// presenceQuery answers a presence_query: one presence frame per listed user who is a member of
// the conversation (others are left out), for a member of it. It is how a client shows presence
// in a group above the limit, whose changes are not pushed.
func (c *conn) presenceQuery(ctx context.Context, q protocol.PresenceQuery) {
	ref := string(protocol.TypePresenceQuery)
	if c.g.o.Presence == nil {
		return // no presence tracking: nothing to answer with
	}
	if ok, wait := c.g.presenceQueries.Allow(c.user); !ok {
		c.enqueue(protocol.ErrorFrame{Code: protocol.CodeRateLimited, Message: "too many presence queries", Ref: ref,
			RetryAfterMS: max(wait.Milliseconds(), 1)})
		return
	}
	conv := int64(q.ConversationID)
	asked := make([]int64, len(q.UserIDs), len(q.UserIDs)+1)
	for i, id := range q.UserIDs {
		asked[i] = int64(id)
	}
	members, err := c.g.o.Store.MembersAmong(ctx, conv, append(asked, c.user))
	if err != nil {
		c.log.Error("presence query", "conversation", conv, "err", err)
		c.enqueue(protocol.ErrorFrame{Code: protocol.CodeInternal, Message: "could not read the members; retry", Ref: ref})
		return
	}
	if _, found := slices.BinarySearch(members, c.user); !found {
		c.sendError(notMember(conv, ref))
		return
	}
	members = slices.DeleteFunc(members, func(u int64) bool { return u == c.user && !slices.Contains(asked, u) })
	if len(members) > 0 && !c.sendPresence(ctx, members, true) {
		c.enqueue(protocol.ErrorFrame{Code: protocol.CodeInternal, Message: "could not read presence; retry", Ref: ref})
	}
}
