// Package memstore is the in-memory chat.Store: one mutex over plain maps, the embedded default
// that needs no database. Everything is lost when the process exits.
package memstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/chat"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/snowflake"
)

type memberKey struct{ conv, user int64 }

type idemKey struct {
	sender int64
	client string
}

type pair struct{ lo, hi int64 }

// Store is the in-memory chat.Store. The single mutex makes every method atomic, which is what
// gives gapless sequences and race-free idempotency here; it also serialises all conversations,
// which is fine for one process and a demo, and why pgstore exists.
type Store struct {
	ids *snowflake.Generator
	now func() time.Time

	mu       sync.Mutex
	users    map[int64]chat.User
	byName   map[string]int64 // lower-cased username
	contacts map[int64]map[int64]bool
	convs    map[int64]*chat.Conversation
	directs  map[pair]int64
	members  map[memberKey]*chat.Member
	// Indexes of members, so listing one conversation's members or one user's conversations
	// does not scan every membership (the notification policy lists members per stored batch).
	convMembers map[int64]map[int64]bool // conversation → users
	userConvs   map[int64]map[int64]bool // user → conversations
	messages    map[int64][]chat.Message // by conversation; index i holds Seq i+1
	sent        map[idemKey]chat.Message
	removals    map[int64]int64 // by conversation: RemoveMember calls (chat.Message.MemberRemovals)
}

var _ chat.Store = (*Store)(nil)

// New returns an empty store that numbers users, conversations and messages with ids.
func New(ids *snowflake.Generator) *Store {
	return &Store{
		ids:         ids,
		now:         func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) },
		users:       map[int64]chat.User{},
		byName:      map[string]int64{},
		contacts:    map[int64]map[int64]bool{},
		convs:       map[int64]*chat.Conversation{},
		directs:     map[pair]int64{},
		members:     map[memberKey]*chat.Member{},
		convMembers: map[int64]map[int64]bool{},
		userConvs:   map[int64]map[int64]bool{},
		messages:    map[int64][]chat.Message{},
		sent:        map[idemKey]chat.Message{},
		removals:    map[int64]int64{},
	}
}

func (s *Store) nextID() int64 { return int64(s.ids.Next()) }

// CreateUser implements chat.Store.
func (s *Store) CreateUser(_ context.Context, u chat.User) (chat.User, error) {
	if err := chat.ValidateUser(u); err != nil {
		return chat.User{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := strings.ToLower(u.Username)
	if _, ok := s.byName[key]; ok {
		return chat.User{}, fmt.Errorf("username %q: %w", u.Username, chat.ErrExists)
	}
	u.ID, u.CreatedAt = s.nextID(), s.now()
	s.users[u.ID], s.byName[key] = u, u.ID
	return u, nil
}

// UserByID implements chat.Store.
func (s *Store) UserByID(_ context.Context, id int64) (chat.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.user(id)
}

func (s *Store) user(id int64) (chat.User, error) {
	u, ok := s.users[id]
	if !ok {
		return chat.User{}, fmt.Errorf("user %d: %w", id, chat.ErrNotFound)
	}
	return u, nil
}

// UserByName implements chat.Store.
func (s *Store) UserByName(_ context.Context, username string) (chat.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.byName[strings.ToLower(username)]
	if !ok {
		return chat.User{}, fmt.Errorf("user %q: %w", username, chat.ErrNotFound)
	}
	return s.users[id], nil
}

// AddContact implements chat.Store.
func (s *Store) AddContact(_ context.Context, owner, contact int64) error {
	if owner == contact {
		return fmt.Errorf("%w: a user cannot be their own contact", chat.ErrInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range []int64{owner, contact} {
		if _, err := s.user(id); err != nil {
			return err
		}
	}
	if s.contacts[owner] == nil {
		s.contacts[owner] = map[int64]bool{}
	}
	s.contacts[owner][contact] = true
	return nil
}

// Contacts implements chat.Store.
func (s *Store) Contacts(_ context.Context, owner int64) ([]chat.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []chat.User{}
	for id := range s.contacts[owner] {
		out = append(out, s.users[id])
	}
	slices.SortFunc(out, func(a, b chat.User) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// Watchers implements chat.Store.
func (s *Store) Watchers(_ context.Context, user int64) ([]int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []int64{}
	for owner, cs := range s.contacts {
		if cs[user] {
			out = append(out, owner)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Direct implements chat.Store.
func (s *Store) Direct(_ context.Context, a, b int64) (chat.Conversation, error) {
	lo, hi, err := chat.DirectPair(a, b)
	if err != nil {
		return chat.Conversation{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if id, ok := s.directs[pair{lo, hi}]; ok {
		return *s.convs[id], nil
	}
	for _, id := range []int64{lo, hi} {
		if _, err := s.user(id); err != nil {
			return chat.Conversation{}, err
		}
	}
	c := s.newConv(chat.Direct, "")
	s.directs[pair{lo, hi}] = c.ID
	s.join(c.ID, lo, chat.RoleMember)
	s.join(c.ID, hi, chat.RoleMember)
	return *c, nil
}

func (s *Store) newConv(kind chat.ConversationKind, title string) *chat.Conversation {
	c := &chat.Conversation{ID: s.nextID(), Kind: kind, Title: title, CreatedAt: s.now()}
	s.convs[c.ID] = c
	return c
}

func (s *Store) join(conv, user int64, role chat.Role) {
	s.members[memberKey{conv, user}] = &chat.Member{ConversationID: conv, UserID: user, Role: role, JoinedAt: s.now()}
	index(s.convMembers, conv, user, true)
	index(s.userConvs, user, conv, true)
}

func (s *Store) leave(conv, user int64) {
	delete(s.members, memberKey{conv, user})
	index(s.convMembers, conv, user, false)
	index(s.userConvs, user, conv, false)
}

// index adds (or removes) v in the set of k.
func index(m map[int64]map[int64]bool, k, v int64, add bool) {
	switch {
	case add && m[k] == nil:
		m[k] = map[int64]bool{v: true}
	case add:
		m[k][v] = true
	default:
		delete(m[k], v)
		if len(m[k]) == 0 {
			delete(m, k)
		}
	}
}

// CreateGroup implements chat.Store.
func (s *Store) CreateGroup(_ context.Context, owner int64, title string, members []int64) (chat.Conversation, error) {
	if err := chat.ValidateTitle(title); err != nil {
		return chat.Conversation{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range append([]int64{owner}, members...) {
		if _, err := s.user(id); err != nil {
			return chat.Conversation{}, err
		}
	}
	c := s.newConv(chat.Group, title)
	s.join(c.ID, owner, chat.Owner)
	for _, id := range members {
		if _, ok := s.members[memberKey{c.ID, id}]; !ok {
			s.join(c.ID, id, chat.RoleMember)
		}
	}
	return *c, nil
}

// group returns conv, which must be a group, and actor's membership of it.
func (s *Store) group(actor, conv int64) (*chat.Member, error) {
	c, ok := s.convs[conv]
	if !ok {
		return nil, fmt.Errorf("conversation %d: %w", conv, chat.ErrNotFound)
	}
	if c.Kind != chat.Group {
		return nil, fmt.Errorf("%w: the members of a direct conversation are fixed", chat.ErrInvalid)
	}
	m, ok := s.members[memberKey{conv, actor}]
	if !ok {
		return nil, fmt.Errorf("user %d in conversation %d: %w", actor, conv, chat.ErrNotMember)
	}
	return m, nil
}

// AddMember implements chat.Store.
func (s *Store) AddMember(_ context.Context, actor, conv, user int64, role chat.Role) error {
	if err := chat.ValidateRole(role); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := s.group(actor, conv)
	if err != nil {
		return err
	}
	if err := chat.CanAdd(a.Role, role); err != nil {
		return err
	}
	if _, err := s.user(user); err != nil {
		return err
	}
	if _, ok := s.members[memberKey{conv, user}]; ok {
		return fmt.Errorf("user %d in conversation %d: %w", user, conv, chat.ErrExists)
	}
	s.join(conv, user, role)
	return nil
}

// RemoveMember implements chat.Store.
func (s *Store) RemoveMember(_ context.Context, actor, conv, user int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := s.group(actor, conv)
	if err != nil {
		return err
	}
	target, ok := s.members[memberKey{conv, user}]
	if !ok {
		return fmt.Errorf("user %d in conversation %d: %w", user, conv, chat.ErrNotMember)
	}
	if err := chat.CanRemove(a.Role, target.Role, actor == user); err != nil {
		return err
	}
	s.leave(conv, user)
	s.removals[conv]++
	return nil
}

// Members implements chat.Store.
func (s *Store) Members(_ context.Context, conv int64) ([]chat.Member, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.convs[conv]; !ok {
		return nil, fmt.Errorf("conversation %d: %w", conv, chat.ErrNotFound)
	}
	out := make([]chat.Member, 0, len(s.convMembers[conv]))
	for user := range s.convMembers[conv] {
		out = append(out, *s.members[memberKey{conv, user}])
	}
	slices.SortFunc(out, func(a, b chat.Member) int { return cmp.Compare(a.UserID, b.UserID) })
	return out, nil
}

// Member implements chat.Store.
func (s *Store) Member(_ context.Context, conv, user int64) (chat.Member, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.members[memberKey{conv, user}]
	if !ok {
		return chat.Member{}, fmt.Errorf("user %d in conversation %d: %w", user, conv, chat.ErrNotMember)
	}
	return *m, nil
}

// ConversationsOf implements chat.Store.
func (s *Store) ConversationsOf(_ context.Context, user int64) ([]chat.Conversation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]chat.Conversation, 0, len(s.userConvs[user]))
	for conv := range s.userConvs[user] {
		out = append(out, *s.convs[conv])
	}
	slices.SortFunc(out, func(a, b chat.Conversation) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// MembershipsOf implements chat.Store.
func (s *Store) MembershipsOf(_ context.Context, user int64) ([]chat.Membership, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]chat.Membership, 0, len(s.userConvs[user]))
	for conv := range s.userConvs[user] {
		out = append(out, chat.Membership{Conversation: *s.convs[conv], Member: *s.members[memberKey{conv, user}]})
	}
	slices.SortFunc(out, func(a, b chat.Membership) int { return cmp.Compare(a.Conversation.ID, b.Conversation.ID) })
	return out, nil
}

// CoMembers implements chat.Store.
func (s *Store) CoMembers(_ context.Context, user int64, maxMembers int) ([]int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[int64]bool{}
	for conv := range s.userConvs[user] {
		if len(s.convMembers[conv]) > maxMembers {
			continue
		}
		for u := range s.convMembers[conv] {
			if u != user {
				seen[u] = true
			}
		}
	}
	out := make([]int64, 0, len(seen))
	for u := range seen {
		out = append(out, u)
	}
	slices.Sort(out)
	return out, nil
}

// MembersAmong implements chat.Store.
func (s *Store) MembersAmong(_ context.Context, conv int64, users []int64) ([]int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []int64{}
	for _, u := range users {
		if s.convMembers[conv][u] && !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Append implements chat.Store.
func (s *Store) Append(_ context.Context, m chat.Message) (chat.Message, bool, error) {
	if err := chat.ValidateMessage(m); err != nil {
		return chat.Message{}, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.appendLocked(m)
}

// AppendBatch implements chat.Store: one lock for the batch keeps its seqs consecutive.
func (s *Store) AppendBatch(_ context.Context, ms []chat.Message) ([]chat.AppendResult, error) {
	if err := chat.CheckBatch(ms); err != nil {
		return nil, err
	}
	out := make([]chat.AppendResult, len(ms))
	first, invalid := chat.FirstCopies(ms)
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, m := range ms {
		if out[i].Err = invalid[i]; out[i].Err == nil && first[i] == i {
			out[i].Message, out[i].Created, out[i].Err = s.appendLocked(m)
		}
	}
	chat.CopyFirsts(out, first)
	return out, nil
}

func (s *Store) appendLocked(m chat.Message) (chat.Message, bool, error) {
	if prev, ok := s.sent[idemKey{m.SenderID, m.ClientMsgID}]; ok {
		return prev, false, nil
	}
	if _, ok := s.members[memberKey{m.ConversationID, m.SenderID}]; !ok {
		return chat.Message{}, false, fmt.Errorf("user %d in conversation %d: %w", m.SenderID, m.ConversationID, chat.ErrNotMember)
	}
	log := s.messages[m.ConversationID]
	if m.Kind != chat.Text {
		var target chat.Message
		found := m.RefSeq <= int64(len(log))
		if found {
			target = log[m.RefSeq-1]
		}
		if err := chat.CheckTarget(m, target, found); err != nil {
			return chat.Message{}, false, err
		}
	}
	c := s.convs[m.ConversationID]
	c.LastSeq++
	m.ID, m.Seq, m.CreatedAt = s.nextID(), c.LastSeq, s.now()
	m.MemberRemovals = 0 // not part of the stored message
	s.messages[m.ConversationID] = append(log, m)
	s.sent[idemKey{m.SenderID, m.ClientMsgID}] = m
	m.MemberRemovals = s.removals[m.ConversationID]
	return m, true, nil
}

// History implements chat.Store.
func (s *Store) History(_ context.Context, conv, beforeSeq int64, limit int) ([]chat.Message, error) {
	if err := chat.ValidatePage(beforeSeq, limit); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	log, err := s.log(conv)
	if err != nil {
		return nil, err
	}
	end := int64(len(log)) // exclusive index of the newest message to return
	if beforeSeq > 0 {
		end = min(end, beforeSeq-1)
	}
	out := make([]chat.Message, 0, min(int64(limit), end))
	for i := end - 1; i >= 0 && len(out) < limit; i-- {
		out = append(out, log[i])
	}
	return out, nil
}

// Since implements chat.Store.
func (s *Store) Since(_ context.Context, conv, afterSeq int64, limit int) ([]chat.Message, error) {
	if err := chat.ValidatePage(afterSeq, limit); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	log, err := s.log(conv)
	if err != nil {
		return nil, err
	}
	start := min(afterSeq, int64(len(log)))
	end := min(start+int64(limit), int64(len(log)))
	return slices.Clone(log[start:end]), nil
}

func (s *Store) log(conv int64) ([]chat.Message, error) {
	if _, ok := s.convs[conv]; !ok {
		return nil, fmt.Errorf("conversation %d: %w", conv, chat.ErrNotFound)
	}
	return s.messages[conv], nil
}

// MarkDelivered implements chat.Store.
func (s *Store) MarkDelivered(_ context.Context, conv, user, seq int64) (chat.Member, error) {
	return s.mark(conv, user, seq, false)
}

// MarkRead implements chat.Store.
func (s *Store) MarkRead(_ context.Context, conv, user, seq int64) (chat.Member, error) {
	return s.mark(conv, user, seq, true)
}

func (s *Store) mark(conv, user, seq int64, read bool) (chat.Member, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.members[memberKey{conv, user}]
	if !ok {
		return chat.Member{}, fmt.Errorf("user %d in conversation %d: %w", user, conv, chat.ErrNotMember)
	}
	if err := chat.CheckReceipt(seq, s.convs[conv].LastSeq); err != nil {
		return chat.Member{}, err
	}
	m.LastDeliveredSeq = max(m.LastDeliveredSeq, seq)
	if read {
		m.LastReadSeq = max(m.LastReadSeq, seq)
	}
	return *m, nil
}
