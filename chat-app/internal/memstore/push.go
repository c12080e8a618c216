package memstore

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/chat"
)

// PushStore is the in-memory chat.PushStore. It has its own lock and checks users against a
// Store (users are never deleted, so one found once stays valid).
type PushStore struct {
	users *Store
	now   func() time.Time

	mu     sync.Mutex
	seq    int64                 // save order: breaks ties between equal CreatedAt
	subs   map[string]*pushEntry // by endpoint, so an endpoint has one owner
	byUser map[int64]map[string]bool
}

type pushEntry struct {
	sub chat.PushSubscription
	seq int64
}

var _ chat.PushStore = (*PushStore)(nil)

// NewPushStore returns an empty push store for the users of users.
func NewPushStore(users *Store) *PushStore {
	return &PushStore{users: users, now: users.now, subs: map[string]*pushEntry{}, byUser: map[int64]map[string]bool{}}
}

// SavePushSubscription implements chat.PushStore.
func (p *PushStore) SavePushSubscription(ctx context.Context, s chat.PushSubscription) error {
	if err := chat.ValidatePushSubscription(s); err != nil {
		return err
	}
	if _, err := p.users.UserByID(ctx, s.UserID); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.remove(s.Endpoint)
	p.seq++
	s.CreatedAt = p.now()
	p.subs[s.Endpoint] = &pushEntry{sub: s, seq: p.seq}
	if p.byUser[s.UserID] == nil {
		p.byUser[s.UserID] = map[string]bool{}
	}
	p.byUser[s.UserID][s.Endpoint] = true
	list := p.list(s.UserID)
	for _, old := range list[:max(0, len(list)-chat.MaxPushSubscriptions)] {
		p.remove(old.sub.Endpoint)
	}
	return nil
}

// remove deletes the subscription with endpoint, whoever owns it.
func (p *PushStore) remove(endpoint string) {
	e, ok := p.subs[endpoint]
	if !ok {
		return
	}
	delete(p.subs, endpoint)
	delete(p.byUser[e.sub.UserID], endpoint)
	if len(p.byUser[e.sub.UserID]) == 0 {
		delete(p.byUser, e.sub.UserID)
	}
}

// list is user's subscriptions, oldest first.
func (p *PushStore) list(user int64) []*pushEntry {
	out := make([]*pushEntry, 0, len(p.byUser[user]))
	for endpoint := range p.byUser[user] {
		out = append(out, p.subs[endpoint])
	}
	slices.SortFunc(out, func(a, b *pushEntry) int {
		return cmp.Or(a.sub.CreatedAt.Compare(b.sub.CreatedAt), cmp.Compare(a.seq, b.seq))
	})
	return out
}

// PushSubscriptions implements chat.PushStore.
func (p *PushStore) PushSubscriptions(_ context.Context, user int64) ([]chat.PushSubscription, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	list := p.list(user)
	out := make([]chat.PushSubscription, len(list))
	for i, e := range list {
		out[i] = e.sub
	}
	return out, nil
}

// DeletePushSubscription implements chat.PushStore.
func (p *PushStore) DeletePushSubscription(_ context.Context, user int64, endpoint string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e, ok := p.subs[endpoint]; ok && e.sub.UserID == user {
		p.remove(endpoint)
	}
	return nil
}
