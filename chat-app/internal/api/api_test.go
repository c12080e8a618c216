package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/api"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/apitest"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/auth"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/chat"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/limit"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/memstore"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/pgstore"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/send"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/snowflake"
	"github.com/hyperscaledesignhub/DesignSystems/shared/httpx"
	"github.com/hyperscaledesignhub/DesignSystems/shared/testkit"
)

const ttl = time.Hour

type clock struct{ ns atomic.Int64 }

func (c *clock) Now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *clock) Add(d time.Duration) { c.ns.Add(int64(d)) }

// publisher records what the API publishes; err makes Publish fail.
type publisher struct {
	mu      sync.Mutex
	got     []chat.Message
	members []string // "<conv>:<user>:added|removed"
	err     error
}

func (p *publisher) Membership(_ context.Context, conv, user int64, added bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	change := "removed"
	if added {
		change = "added"
	}
	p.members = append(p.members, fmt.Sprintf("%d:%d:%s", conv, user, change))
	return p.err
}

func (p *publisher) memberships() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.members...)
}

func (p *publisher) Publish(_ context.Context, m chat.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.got = append(p.got, m)
	return p.err
}

func (p *publisher) published() []chat.Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]chat.Message(nil), p.got...)
}

type harness struct {
	base  string
	clock *clock
	pub   *publisher
	reg   *prometheus.Registry // the send use case's metrics
	sends *send.Service
}

func memStore(t *testing.T) chat.Store {
	t.Helper()
	ids, err := snowflake.New(1, nil)
	require.NoError(t, err)
	return memstore.New(ids)
}

// serve runs the real router (httpx's middleware stack and the API's routes) on a loopback port.
func serve(t *testing.T, store chat.Store, tune func(*api.Options)) *harness {
	t.Helper()
	return serveSend(t, store, nil, tune)
}

// serveSend is serve with the send use case's options tuned too (it publishes to h.pub).
func serveSend(t *testing.T, store chat.Store, tuneSend func(*send.Options), tune func(*api.Options)) *harness {
	t.Helper()
	h := &harness{clock: &clock{}, pub: &publisher{}, reg: prometheus.NewRegistry()}
	h.clock.ns.Store(time.Now().UnixNano())
	tokens, err := auth.NewTokens([]byte("test-secret-test-secret-test-secret"), ttl, h.clock.Now)
	require.NoError(t, err)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	so := send.Options{Store: store, Publisher: h.pub, Registerer: h.reg, Logger: logger}
	if tuneSend != nil {
		tuneSend(&so)
	}
	sender, err := send.New(so)
	require.NoError(t, err)
	h.sends = sender
	o := api.Options{Store: store, Tokens: tokens, Publisher: h.pub, Sender: sender, Logger: logger, LoginPerMinute: -1, Now: h.clock.Now}
	if tune != nil {
		tune(&o)
	}
	a, err := api.New(o)
	require.NoError(t, err)
	srv, err := httpx.New(httpx.Options{Logger: logger})
	require.NoError(t, err)
	a.Routes(srv.Router())
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	h.base = ts.URL
	return h
}

// response is what a call returned; decode reads the JSON body into v.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) decode(t *testing.T, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(r.body, v), "body: %s", r.body)
}

// problem checks r is an RFC 9457 problem with status and returns its detail.
func (r response) problem(t *testing.T, status int) string {
	t.Helper()
	require.Equal(t, status, r.status, "body: %s", r.body)
	assert.Equal(t, "application/problem+json", r.header.Get("Content-Type"))
	var p map[string]any
	r.decode(t, &p)
	assert.Equal(t, float64(status), p["status"])
	detail, _ := p["detail"].(string)
	return detail
}

// call sends a request with an optional bearer token; body is JSON-encoded unless it is a string
// (sent as is, for malformed bodies).
func (h *harness) call(t *testing.T, token, method, path string, body any) response {
	t.Helper()
	res, raw := apitest.Do(t, method, h.base+path, token, body)
	return response{status: res.StatusCode, header: res.Header, body: raw}
}

// account is a signed-up user.
type account struct {
	user  api.User
	token string
}

func (h *harness) signup(t *testing.T, name string) account {
	t.Helper()
	res := h.call(t, "", "POST", "/v1/signup", api.SignupRequest{Username: name, DisplayName: strings.ToUpper(name), Password: "password-" + name})
	require.Equal(t, http.StatusCreated, res.status, "body: %s", res.body)
	var ar api.AuthResponse
	res.decode(t, &ar)
	return account{user: ar.User, token: ar.Token}
}

func (h *harness) send(t *testing.T, a account, conv api.ID, clientID, body string) response {
	t.Helper()
	return h.call(t, a.token, "POST", fmt.Sprintf("/v1/conversations/%s/messages", conv), api.SendRequest{ClientMsgID: clientID, Body: body})
}

// TestFlowsMemory runs the main flows on the in-memory store.
func TestFlowsMemory(t *testing.T) {
	t.Parallel()
	flows(t, serve(t, memStore(t), nil))
}

// TestFlowsPostgres runs the same flows on the PostgreSQL store.
func TestFlowsPostgres(t *testing.T) {
	t.Parallel()
	env := testkit.Postgres(t)
	_, err := pgstore.Migrate(t.Context(), env.Pool)
	require.NoError(t, err)
	ids, err := snowflake.New(2, nil)
	require.NoError(t, err)
	flows(t, serve(t, pgstore.New(env.Pool, ids), nil))
}

func flows(t *testing.T, h *harness) {
	alice, bob, carol, dave := h.signup(t, "alice"), h.signup(t, "bob"), h.signup(t, "carol"), h.signup(t, "dave")

	t.Run("signup, login and me", func(t *testing.T) {
		assert.Equal(t, "alice", alice.user.Username)
		assert.Equal(t, "ALICE", alice.user.DisplayName)
		assert.NotZero(t, alice.user.ID)

		res := h.call(t, "", "POST", "/v1/login", api.LoginRequest{Username: "Alice", Password: "password-alice"})
		require.Equal(t, http.StatusOK, res.status, "username is case-insensitive: %s", res.body)
		assert.Equal(t, "no-store", res.header.Get("Cache-Control"))
		var ar api.AuthResponse
		res.decode(t, &ar)
		assert.Equal(t, alice.user.ID, ar.User.ID)
		assert.WithinDuration(t, h.clock.Now().Add(ttl), time.Time(ar.ExpiresAt), 2*time.Second)

		res = h.call(t, ar.Token, "GET", "/v1/me", nil)
		require.Equal(t, http.StatusOK, res.status)
		var me api.User
		res.decode(t, &me)
		assert.Equal(t, alice.user, me)
		// IDs are JSON strings on the wire, never numbers.
		assert.Contains(t, string(res.body), fmt.Sprintf(`"id":"%d"`, int64(me.ID)))
		assert.NotContains(t, string(res.body), "password")
	})

	t.Run("wrong password and unknown user get the same 401", func(t *testing.T) {
		wrong := h.call(t, "", "POST", "/v1/login", api.LoginRequest{Username: "alice", Password: "password-bob"})
		unknown := h.call(t, "", "POST", "/v1/login", api.LoginRequest{Username: "zed", Password: "password-bob"})
		assert.Equal(t, wrong.problem(t, http.StatusUnauthorized), unknown.problem(t, http.StatusUnauthorized))
		assert.NotEmpty(t, wrong.header.Get("WWW-Authenticate"))
	})

	t.Run("signup validation", func(t *testing.T) {
		res := h.call(t, "", "POST", "/v1/signup", api.SignupRequest{Username: "ALICE", Password: "whatever-pass"})
		assert.Contains(t, res.problem(t, http.StatusConflict), "already exists")
		res = h.call(t, "", "POST", "/v1/signup", api.SignupRequest{Username: "erin", Password: "short"})
		assert.Contains(t, res.problem(t, http.StatusBadRequest), "at least 8")
		res = h.call(t, "", "POST", "/v1/signup", api.SignupRequest{Username: "e", Password: "long enough"})
		assert.Contains(t, res.problem(t, http.StatusBadRequest), "username")
	})

	t.Run("bearer token required, invalid and expired", func(t *testing.T) {
		res := h.call(t, "", "GET", "/v1/me", nil)
		res.problem(t, http.StatusUnauthorized)
		assert.Equal(t, `Bearer realm="chat"`, res.header.Get("WWW-Authenticate"))

		res = h.call(t, alice.token+"x", "GET", "/v1/me", nil)
		res.problem(t, http.StatusUnauthorized)
		assert.Contains(t, res.header.Get("WWW-Authenticate"), `error="invalid_token"`)

		short := h.signup(t, "shortlived")
		h.clock.Add(ttl + time.Second)
		defer h.clock.Add(-(ttl + time.Second))
		res = h.call(t, short.token, "GET", "/v1/me", nil)
		assert.Contains(t, res.problem(t, http.StatusUnauthorized), "expired")
		assert.Contains(t, res.header.Get("WWW-Authenticate"), "expired")
	})

	t.Run("contacts", func(t *testing.T) {
		for range 2 { // adding twice is fine
			res := h.call(t, alice.token, "POST", "/v1/contacts", api.AddContactRequest{Username: "bob"})
			require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
		}
		require.Equal(t, http.StatusOK, h.call(t, alice.token, "POST", "/v1/contacts", api.AddContactRequest{Username: "carol"}).status)
		h.call(t, alice.token, "POST", "/v1/contacts", api.AddContactRequest{Username: "nobody"}).problem(t, http.StatusNotFound)
		h.call(t, alice.token, "POST", "/v1/contacts", api.AddContactRequest{Username: "alice"}).problem(t, http.StatusBadRequest)

		var cs api.ContactsResponse
		h.call(t, alice.token, "GET", "/v1/contacts", nil).decode(t, &cs)
		var names []string
		for _, c := range cs.Contacts {
			names = append(names, c.Username)
		}
		assert.ElementsMatch(t, []string{"bob", "carol"}, names)
		h.call(t, bob.token, "GET", "/v1/contacts", nil).decode(t, &cs)
		assert.Empty(t, cs.Contacts, "contacts are one-way")
	})

	var direct api.Conversation
	t.Run("direct conversation is idempotent", func(t *testing.T) {
		res := h.call(t, alice.token, "POST", "/v1/conversations/direct", api.DirectRequest{UserID: bob.user.ID})
		require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
		res.decode(t, &direct)
		assert.Equal(t, "direct", direct.Kind)
		var again api.Conversation
		h.call(t, bob.token, "POST", "/v1/conversations/direct", api.DirectRequest{UserID: alice.user.ID}).decode(t, &again)
		assert.Equal(t, direct.ID, again.ID, "the same conversation from the other side")
		h.call(t, alice.token, "POST", "/v1/conversations/direct", api.DirectRequest{UserID: alice.user.ID}).problem(t, http.StatusBadRequest)
		h.call(t, alice.token, "POST", "/v1/conversations/direct", api.DirectRequest{UserID: 12345}).problem(t, http.StatusNotFound)
		h.call(t, alice.token, "POST", "/v1/conversations/direct", `{"user_id":12345}`).problem(t, http.StatusBadRequest)
	})

	var group api.Conversation
	t.Run("group with roles", func(t *testing.T) {
		res := h.call(t, alice.token, "POST", "/v1/conversations/group", api.GroupRequest{Title: "trip", MemberIDs: []api.ID{bob.user.ID}})
		require.Equal(t, http.StatusCreated, res.status, "body: %s", res.body)
		res.decode(t, &group)
		assert.Equal(t, "group", group.Kind)
		assert.Equal(t, "trip", group.Title)
		assert.Equal(t, "owner", group.Role)
		path := fmt.Sprintf("/v1/conversations/%s/members", group.ID)

		// bob is a plain member: he cannot add anyone.
		h.call(t, bob.token, "POST", path, api.AddMemberRequest{UserID: carol.user.ID}).problem(t, http.StatusForbidden)
		// a non-member cannot either, nor list the members.
		h.call(t, dave.token, "POST", path, api.AddMemberRequest{UserID: carol.user.ID}).problem(t, http.StatusForbidden)
		h.call(t, dave.token, "GET", path, nil).problem(t, http.StatusForbidden)

		// the owner makes carol an admin; carol adds dave as a member but cannot add admins.
		res = h.call(t, alice.token, "POST", path, api.AddMemberRequest{UserID: carol.user.ID, Role: "admin"})
		require.Equal(t, http.StatusCreated, res.status, "body: %s", res.body)
		var m api.Member
		res.decode(t, &m)
		assert.Equal(t, api.Member{UserID: carol.user.ID, Role: "admin", JoinedAt: m.JoinedAt}, m)
		h.call(t, carol.token, "POST", path, api.AddMemberRequest{UserID: dave.user.ID, Role: "admin"}).problem(t, http.StatusForbidden)
		require.Equal(t, http.StatusCreated, h.call(t, carol.token, "POST", path, api.AddMemberRequest{UserID: dave.user.ID}).status)
		h.call(t, carol.token, "POST", path, api.AddMemberRequest{UserID: dave.user.ID}).problem(t, http.StatusConflict)
		h.call(t, alice.token, "POST", path, api.AddMemberRequest{UserID: dave.user.ID, Role: "owner"}).problem(t, http.StatusBadRequest)

		var ms api.MembersResponse
		h.call(t, bob.token, "GET", path, nil).decode(t, &ms)
		roles := map[api.ID]string{}
		for _, m := range ms.Members {
			roles[m.UserID] = m.Role
		}
		assert.Equal(t, map[api.ID]string{alice.user.ID: "owner", bob.user.ID: "member", carol.user.ID: "admin", dave.user.ID: "member"}, roles)

		// removing: members cannot remove others, admins can remove members, anyone but the owner leaves.
		h.call(t, bob.token, "DELETE", fmt.Sprintf("%s/%s", path, dave.user.ID), nil).problem(t, http.StatusForbidden)
		h.call(t, carol.token, "DELETE", fmt.Sprintf("%s/%s", path, alice.user.ID), nil).problem(t, http.StatusForbidden)
		assert.Equal(t, http.StatusNoContent, h.call(t, carol.token, "DELETE", fmt.Sprintf("%s/%s", path, dave.user.ID), nil).status)
		assert.Equal(t, http.StatusNoContent, h.call(t, carol.token, "DELETE", fmt.Sprintf("%s/%s", path, carol.user.ID), nil).status)
		h.call(t, alice.token, "DELETE", fmt.Sprintf("%s/%s", path, alice.user.ID), nil).problem(t, http.StatusForbidden)
		h.call(t, alice.token, "DELETE", path+"/007", nil).problem(t, http.StatusBadRequest)
		h.call(t, alice.token, "POST", fmt.Sprintf("/v1/conversations/%s/members", direct.ID), api.AddMemberRequest{UserID: carol.user.ID}).problem(t, http.StatusBadRequest)

		// Each successful change was announced to the users it concerns, and only those.
		ann := func(u account, change string) string { return fmt.Sprintf("%s:%s:%s", group.ID, u.user.ID, change) }
		var got []string
		for _, m := range h.pub.memberships() {
			if strings.HasPrefix(m, group.ID.String()+":") {
				got = append(got, m)
			}
		}
		assert.Equal(t, []string{ann(alice, "added"), ann(bob, "added"), ann(carol, "added"), ann(dave, "added"),
			ann(dave, "removed"), ann(carol, "removed")}, got)
		assert.Contains(t, h.pub.memberships(), fmt.Sprintf("%s:%s:added", direct.ID, bob.user.ID), "a direct conversation too")
	})

	t.Run("send is idempotent over HTTP", func(t *testing.T) {
		before := len(h.pub.published())
		res := h.send(t, alice, direct.ID, "a-1", "hello bob")
		require.Equal(t, http.StatusCreated, res.status, "body: %s", res.body)
		var first api.Message
		res.decode(t, &first)
		assert.Equal(t, int64(1), first.Seq)
		assert.Equal(t, alice.user.ID, first.SenderID)
		assert.Equal(t, "text", first.Kind)

		res = h.send(t, alice, direct.ID, "a-1", "a retry's body is ignored")
		require.Equal(t, http.StatusOK, res.status, "a retry answers 200: %s", res.body)
		var retry api.Message
		res.decode(t, &retry)
		assert.Equal(t, first, retry, "the original message")

		pub := h.pub.published()[before:]
		require.Len(t, pub, 1, "only the created send is published")
		assert.Equal(t, int64(first.ID), pub[0].ID)

		h.send(t, dave, direct.ID, "d-1", "let me in").problem(t, http.StatusForbidden)
		h.send(t, alice, direct.ID, "", "no id").problem(t, http.StatusBadRequest)
		h.send(t, alice, direct.ID, "a-big", strings.Repeat("x", chat.MaxBodyBytes+1)).problem(t, http.StatusBadRequest)
	})

	t.Run("history pagination, newest first", func(t *testing.T) {
		for i := 2; i <= 7; i++ {
			require.Equal(t, http.StatusCreated, h.send(t, bob, direct.ID, fmt.Sprintf("b-%d", i), fmt.Sprintf("msg %d", i)).status)
		}
		var seqs []int64
		before := int64(0)
		pages := 0
		for {
			var page api.MessagesResponse
			res := h.call(t, bob.token, "GET", fmt.Sprintf("/v1/conversations/%s/messages?limit=3&before_seq=%d", direct.ID, before), nil)
			require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
			res.decode(t, &page)
			pages++
			for _, m := range page.Messages {
				seqs = append(seqs, m.Seq)
			}
			if page.NextBeforeSeq == 0 {
				break
			}
			before = page.NextBeforeSeq
		}
		assert.Equal(t, []int64{7, 6, 5, 4, 3, 2, 1}, seqs)
		assert.Equal(t, 3, pages)

		var all api.MessagesResponse
		h.call(t, alice.token, "GET", fmt.Sprintf("/v1/conversations/%s/messages", direct.ID), nil).decode(t, &all)
		require.Len(t, all.Messages, 7)
		assert.Equal(t, "hello bob", all.Messages[6].Body)
		assert.Zero(t, all.NextBeforeSeq)

		path := fmt.Sprintf("/v1/conversations/%s/messages", direct.ID)
		h.call(t, carol.token, "GET", path, nil).problem(t, http.StatusForbidden)
		h.call(t, alice.token, "GET", path+"?limit=0", nil).problem(t, http.StatusBadRequest)
		h.call(t, alice.token, "GET", path+"?limit=201", nil).problem(t, http.StatusBadRequest)
		h.call(t, alice.token, "GET", path+"?before_seq=x", nil).problem(t, http.StatusBadRequest)
		h.call(t, alice.token, "GET", "/v1/conversations/abc/messages", nil).problem(t, http.StatusBadRequest)
	})

	t.Run("conversations list with last_seq and receipts", func(t *testing.T) {
		var cs api.ConversationsResponse
		h.call(t, bob.token, "GET", "/v1/conversations", nil).decode(t, &cs)
		byID := map[api.ID]api.Conversation{}
		for _, c := range cs.Conversations {
			byID[c.ID] = c
		}
		require.Len(t, byID, 2)
		assert.Equal(t, int64(7), byID[direct.ID].LastSeq)
		assert.Equal(t, "member", byID[direct.ID].Role)
		assert.Equal(t, "trip", byID[group.ID].Title)
		h.call(t, carol.token, "GET", "/v1/conversations", nil).decode(t, &cs)
		assert.Empty(t, cs.Conversations, "carol left the group")
	})

	t.Run("bad JSON is a 400 problem", func(t *testing.T) {
		for name, body := range map[string]string{
			"unknown field": `{"username":"x","password":"12345678","admin":true}`,
			"malformed":     `{"username":`,
			"wrong type":    `{"username":5,"password":"12345678"}`,
			"two values":    `{} {}`,
			"empty":         ``,
		} {
			t.Run(name, func(t *testing.T) {
				h.call(t, "", "POST", "/v1/signup", body).problem(t, http.StatusBadRequest)
			})
		}
		detail := h.call(t, alice.token, "POST", "/v1/conversations/group", `{"title":"t","member_ids":["1"],"x":1}`).problem(t, http.StatusBadRequest)
		assert.Contains(t, detail, `"x"`)
		detail = h.call(t, alice.token, "POST", "/v1/conversations/group", `{"title":"t","member_ids":[1]}`).problem(t, http.StatusBadRequest)
		assert.Contains(t, detail, "JSON string", "IDs are strings, never numbers")
	})
}

func TestLoginRateLimitPerIP(t *testing.T) {
	t.Parallel()
	h := serve(t, memStore(t), func(o *api.Options) { o.LoginPerMinute, o.LoginBurst = 6, 3 })
	h.signup(t, "alice") // one of the 3
	login := func() response {
		return h.call(t, "", "POST", "/v1/login", api.LoginRequest{Username: "alice", Password: "wrong-password"})
	}
	login().problem(t, http.StatusUnauthorized)
	login().problem(t, http.StatusUnauthorized)
	res := login()
	res.problem(t, http.StatusTooManyRequests)
	assert.Equal(t, "10", res.header.Get("Retry-After"), "6 per minute: one every 10 s")
	h.clock.Add(10 * time.Second)
	res = h.call(t, "", "POST", "/v1/login", api.LoginRequest{Username: "alice", Password: "password-alice"})
	assert.Equal(t, http.StatusOK, res.status, "refilled: %s", res.body)
	login().problem(t, http.StatusTooManyRequests)
}

// HTTP sends spend the per-user budget the gateway spends (one limiter in one process): a
// user at the limit gets 429 with Retry-After, on every connection of theirs; others do not.
func TestSendRateLimitPerUser(t *testing.T) {
	t.Parallel()
	c := &clock{}
	c.ns.Store(time.Now().UnixNano())
	sends := limit.New[int64](0.5, 2, c.Now) // one every 2 s, burst 2
	h := serveSend(t, memStore(t), func(o *send.Options) { o.Limit = sends }, nil)
	a, b := h.signup(t, "alice"), h.signup(t, "bob")
	var conv api.Conversation
	h.call(t, a.token, "POST", "/v1/conversations/direct", api.DirectRequest{UserID: b.user.ID}).decode(t, &conv)
	require.Equal(t, http.StatusCreated, h.send(t, a, conv.ID, "a-1", "x").status)
	require.Equal(t, http.StatusCreated, h.send(t, a, conv.ID, "a-2", "x").status)
	res := h.send(t, a, conv.ID, "a-3", "x")
	assert.Contains(t, res.problem(t, http.StatusTooManyRequests), "too many sends")
	assert.Equal(t, "2", res.header.Get("Retry-After"))
	require.Equal(t, http.StatusCreated, h.send(t, b, conv.ID, "b-1", "x").status, "bob has his own budget")

	// The gateway of the same process spends the same bucket (app.New shares it).
	ok, _ := sends.Allow(int64(b.user.ID))
	require.True(t, ok)
	h.send(t, b, conv.ID, "b-2", "x").problem(t, http.StatusTooManyRequests)

	c.Add(2 * time.Second)
	require.Equal(t, http.StatusCreated, h.send(t, a, conv.ID, "a-3", "x").status, "refilled; the refused send was not stored")
	var page api.MessagesResponse
	h.call(t, b.token, "GET", fmt.Sprintf("/v1/conversations/%s/messages", conv.ID), nil).decode(t, &page)
	assert.Len(t, page.Messages, 4)
}

func TestPublishFailureStillStores(t *testing.T) {
	t.Parallel()
	h := serve(t, memStore(t), nil)
	h.pub.err = errors.New("bus down")
	a, b := h.signup(t, "alice"), h.signup(t, "bob")
	var c api.Conversation
	h.call(t, a.token, "POST", "/v1/conversations/direct", api.DirectRequest{UserID: b.user.ID}).decode(t, &c)
	require.Equal(t, http.StatusCreated, h.send(t, a, c.ID, "a-1", "hi").status)
	var page api.MessagesResponse
	h.call(t, b.token, "GET", fmt.Sprintf("/v1/conversations/%s/messages", c.ID), nil).decode(t, &page)
	require.Len(t, page.Messages, 1, "stored; clients get it on sync")
}

func TestNewRequiresStoreAndTokens(t *testing.T) {
	_, err := api.New(api.Options{})
	assert.Error(t, err)
}
