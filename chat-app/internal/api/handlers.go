package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/auth"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/chat"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/send"
	"github.com/hyperscaledesignhub/DesignSystems/shared/httpx"
)

// DefaultPageSize is the history page size when the request names none.
const DefaultPageSize = 50

func (a *API) signup(w http.ResponseWriter, r *http.Request) {
	var req SignupRequest
	if err := httpx.DecodeJSON(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	if req.DisplayName == "" {
		req.DisplayName = req.Username
	}
	u := chat.User{Username: req.Username, DisplayName: req.DisplayName}
	// Check everything cheap before paying for the hash.
	if err := chat.ValidateUser(u); err != nil {
		a.fail(w, r, err)
		return
	}
	if err := auth.ValidatePassword(req.Password); err != nil {
		a.fail(w, r, err)
		return
	}
	hash, err := auth.HashPassword(req.Password)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	u.PasswordHash = hash
	u, err = a.store.CreateUser(r.Context(), u)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.issue(w, r, http.StatusCreated, u)
}

func (a *API) login(w http.ResponseWriter, r *http.Request) {
	var req LoginRequest
	if err := httpx.DecodeJSON(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	u, err := a.store.UserByName(r.Context(), req.Username)
	switch {
	case errors.Is(err, chat.ErrNotFound):
		// Spend the same bcrypt time as for a real user, so response times do not reveal
		// which usernames exist; the answer is the same as for a wrong password.
		_ = auth.CheckPassword(a.dummy, req.Password)
		err = auth.ErrWrongPassword
	case err == nil:
		err = auth.CheckPassword(u.PasswordHash, req.Password)
	}
	if errors.Is(err, auth.ErrWrongPassword) {
		unauthorized(w, r, `Bearer realm="chat"`, "unknown username or wrong password")
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.issue(w, r, http.StatusOK, u)
}

func (a *API) issue(w http.ResponseWriter, r *http.Request, status int, u chat.User) {
	token, exp, err := a.tokens.Issue(u.ID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store") // RFC 6749 §5.1: responses carrying tokens
	httpx.WriteJSON(w, status, AuthResponse{User: userOf(u), Token: token, ExpiresAt: Time(exp)})
}

func (a *API) me(w http.ResponseWriter, r *http.Request) {
	u, err := a.store.UserByID(r.Context(), userID(r))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, userOf(u))
}

func (a *API) contacts(w http.ResponseWriter, r *http.Request) {
	users, err := a.store.Contacts(r.Context(), userID(r))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	res := ContactsResponse{Contacts: make([]User, len(users))}
	for i, u := range users {
		res.Contacts[i] = userOf(u)
	}
	httpx.WriteJSON(w, http.StatusOK, res)
}

// addContact is idempotent: adding a contact twice answers 200 with the contact both times.
func (a *API) addContact(w http.ResponseWriter, r *http.Request) {
	var req AddContactRequest
	if err := httpx.DecodeJSON(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	u, err := a.store.UserByName(r.Context(), req.Username)
	if err == nil {
		err = a.store.AddContact(r.Context(), userID(r), u.ID)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, userOf(u))
}

func (a *API) conversations(w http.ResponseWriter, r *http.Request) {
	me := userID(r)
	ms, err := a.store.MembershipsOf(r.Context(), me)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	res := ConversationsResponse{Conversations: make([]Conversation, 0, len(ms))}
	for _, m := range ms {
		res.Conversations = append(res.Conversations, conversationOf(m.Conversation, m.Member))
	}
	httpx.WriteJSON(w, http.StatusOK, res)
}

// direct returns the caller's one direct conversation with another user, creating it on first
// use; repeating it (from either side) returns the same conversation.
func (a *API) direct(w http.ResponseWriter, r *http.Request) {
	var req DirectRequest
	if err := httpx.DecodeJSON(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	if req.UserID == 0 {
		a.fail(w, r, httpx.NewProblem(http.StatusBadRequest, "user_id is required"))
		return
	}
	me := userID(r)
	c, err := a.store.Direct(r.Context(), me, int64(req.UserID))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	// Announced on every call, also for an existing one: cheap, and a client ignores a
	// conversation it has.
	a.announce(r, c.ID, true, me, int64(req.UserID))
	m, err := a.store.Member(r.Context(), c.ID, me)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, conversationOf(c, m))
}

func (a *API) group(w http.ResponseWriter, r *http.Request) {
	var req GroupRequest
	if err := httpx.DecodeJSON(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	if len(req.MemberIDs) > chat.MaxPageSize {
		a.fail(w, r, httpx.Problemf(http.StatusBadRequest, "member_ids: at most %d at creation; add more later", chat.MaxPageSize))
		return
	}
	ids := make([]int64, len(req.MemberIDs))
	for i, id := range req.MemberIDs {
		ids[i] = int64(id)
	}
	me := userID(r)
	c, err := a.store.CreateGroup(r.Context(), me, req.Title, ids)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.announce(r, c.ID, true, append([]int64{me}, ids...)...)
	m, err := a.store.Member(r.Context(), c.ID, me)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusCreated, conversationOf(c, m))
}

// members lists a conversation's members, for members only.
func (a *API) members(w http.ResponseWriter, r *http.Request) {
	conv, ok := a.memberOf(w, r)
	if !ok {
		return
	}
	ms, err := a.store.Members(r.Context(), conv)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	res := MembersResponse{Members: make([]Member, len(ms))}
	for i, m := range ms {
		res.Members[i] = memberOf(m)
	}
	httpx.WriteJSON(w, http.StatusOK, res)
}

func (a *API) addMember(w http.ResponseWriter, r *http.Request) {
	conv, ok := pathID(w, r, a, "id")
	if !ok {
		return
	}
	var req AddMemberRequest
	if err := httpx.DecodeJSON(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	if req.UserID == 0 {
		a.fail(w, r, httpx.NewProblem(http.StatusBadRequest, "user_id is required"))
		return
	}
	if req.Role == "" {
		req.Role = string(chat.RoleMember)
	}
	if err := a.store.AddMember(r.Context(), userID(r), conv, int64(req.UserID), chat.Role(req.Role)); err != nil {
		a.fail(w, r, err)
		return
	}
	a.announce(r, conv, true, int64(req.UserID))
	m, err := a.store.Member(r.Context(), conv, int64(req.UserID))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusCreated, memberOf(m))
}

// removeMember removes a member, or lets the caller leave (user_id = the caller).
func (a *API) removeMember(w http.ResponseWriter, r *http.Request) {
	conv, ok := pathID(w, r, a, "id")
	if !ok {
		return
	}
	user, ok := pathID(w, r, a, "user_id")
	if !ok {
		return
	}
	if err := a.store.RemoveMember(r.Context(), userID(r), conv, user); err != nil {
		a.fail(w, r, err)
		return
	}
	a.announce(r, conv, false, user)
	w.WriteHeader(http.StatusNoContent)
}

// announce tells the users' connected sessions that they were added to (or removed from) conv.
// Like a message's publish it is best effort and logged: a client also finds new conversations
// in GET /v1/conversations, and a removed member's sync is refused (not_member).
func (a *API) announce(r *http.Request, conv int64, added bool, users ...int64) {
	if a.publisher == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), a.pubWait)
	defer cancel()
	seen := map[int64]bool{}
	for _, u := range users {
		if seen[u] {
			continue
		}
		seen[u] = true
		if err := a.publisher.Membership(ctx, conv, u, added); err != nil {
			a.log.WarnContext(ctx, "announce membership", "conversation_id", conv, "user_id", u, "added", added, "err", err)
		}
	}
}

// history pages back through a conversation, newest first: before_seq (exclusive; 0 or absent =
// from the newest) and limit (1..200, default 50). The next page is before_seq=next_before_seq.
func (a *API) history(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	before, err := queryInt(q.Get("before_seq"), 0)
	if err != nil {
		a.fail(w, r, httpx.Problemf(http.StatusBadRequest, "before_seq: %v", err))
		return
	}
	limit, err := queryInt(q.Get("limit"), DefaultPageSize)
	if err != nil {
		a.fail(w, r, httpx.Problemf(http.StatusBadRequest, "limit: %v", err))
		return
	}
	if err := chat.ValidatePage(before, int(limit)); err != nil {
		a.fail(w, r, err)
		return
	}
	conv, ok := a.memberOf(w, r)
	if !ok {
		return
	}
	msgs, err := a.store.History(r.Context(), conv, before, int(limit))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	res := MessagesResponse{Messages: make([]Message, len(msgs))}
	for i, m := range msgs {
		res.Messages[i] = messageOf(m)
	}
	if n := len(msgs); n == int(limit) && msgs[n-1].Seq > 1 {
		res.NextBeforeSeq = msgs[n-1].Seq
	}
	httpx.WriteJSON(w, http.StatusOK, res)
}

// send appends a text message through the send use case the WebSocket gateway uses too (group
// commit, publish, notification hook, metrics): 201 with it when stored, 200 with the original
// when the client_msg_id was already used by the caller (a retry; its body is ignored), 429 over
// the caller's budget of sends.
func (a *API) send(w http.ResponseWriter, r *http.Request) {
	conv, ok := pathID(w, r, a, "id")
	if !ok {
		return
	}
	var req SendRequest
	if err := httpx.DecodeJSON(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	res, err := a.sender.Send(r.Context(), chat.Message{
		ConversationID: conv, SenderID: userID(r), ClientMsgID: req.ClientMsgID, Kind: chat.Text, Body: req.Body,
	})
	if rl := (*send.RateLimitedError)(nil); errors.As(err, &rl) {
		tooMany(w, r, rl.Wait, "too many sends")
		return
	}
	if err == nil {
		err = res.Err
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	status := http.StatusCreated
	if !res.Created {
		status = http.StatusOK
	}
	httpx.WriteJSON(w, status, messageOf(res.Message))
}

// memberOf reads the {id} conversation and checks the caller belongs to it (403 otherwise).
func (a *API) memberOf(w http.ResponseWriter, r *http.Request) (int64, bool) {
	conv, ok := pathID(w, r, a, "id")
	if !ok {
		return 0, false
	}
	if _, err := a.store.Member(r.Context(), conv, userID(r)); err != nil {
		a.fail(w, r, err)
		return 0, false
	}
	return conv, true
}

// pathID parses an ID path parameter in the canonical form of the protocol (positive decimal,
// no sign, no leading zeros).
func pathID(w http.ResponseWriter, r *http.Request, a *API, name string) (int64, bool) {
	s := chi.URLParam(r, name)
	var id ID
	if err := id.UnmarshalJSON([]byte(strconv.Quote(s))); err != nil {
		a.fail(w, r, httpx.Problemf(http.StatusBadRequest, "%s %q: %v", name, s, err))
		return 0, false
	}
	return int64(id), true
}

func queryInt(s string, def int64) (int64, error) {
	if s == "" {
		return def, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not an integer", s)
	}
	return v, nil
}
