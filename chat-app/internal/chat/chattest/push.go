package chattest

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/chat"
)

// PushStore is what RunPush needs of a store: the port, and users to own the subscriptions.
type PushStore interface {
	chat.PushStore
	CreateUser(ctx context.Context, u chat.User) (chat.User, error)
}

// RunPush runs the contract of chat.PushStore against stores from newStore, called once per
// case from parallel tests: each call must return a fresh, empty store, cleaned up with t.Cleanup.
// Beyond the plain behaviour it checks the two rules that hold under concurrency: an endpoint has
// one owner, and a user never keeps more than chat.MaxPushSubscriptions.
func RunPush(t *testing.T, newStore func(t *testing.T) PushStore) {
	t.Helper()
	for _, c := range []struct {
		name string
		run  func(e *pushEnv)
	}{
		{"save, list and delete", pushBasics},
		{"save validates", pushValidation},
		{"saving an endpoint again replaces its keys", pushResave},
		{"an endpoint saved by another user moves to them", pushMove},
		{"at most MaxPushSubscriptions per user, the oldest dropped", pushCap},
		{"concurrent saves keep the cap and one owner per endpoint", pushRace},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(&pushEnv{t: t, ctx: t.Context(), s: newStore(t)})
		})
	}
}

type pushEnv struct {
	t   *testing.T
	ctx context.Context
	s   PushStore
}

func (e *pushEnv) user(name string) int64 {
	e.t.Helper()
	u, err := e.s.CreateUser(e.ctx, chat.User{Username: name, PasswordHash: "hash"})
	require.NoError(e.t, err)
	return u.ID
}

// NewPushSubscription returns a valid subscription of user to endpoint, with fresh keys as a
// browser makes them: an uncompressed P-256 public key and a 16-byte secret, base64url unpadded.
func NewPushSubscription(t testing.TB, user int64, endpoint string) chat.PushSubscription {
	t.Helper()
	priv, err := ecdh.P256().GenerateKey(rand.Reader)
	require.NoError(t, err)
	auth := make([]byte, 16)
	_, _ = rand.Read(auth)
	return chat.PushSubscription{UserID: user, Endpoint: endpoint,
		P256dh: base64.RawURLEncoding.EncodeToString(priv.PublicKey().Bytes()), Auth: base64.RawURLEncoding.EncodeToString(auth)}
}

func endpoint(name string) string { return "https://push.example.com/send/" + name }

func (e *pushEnv) save(user int64, name string) chat.PushSubscription {
	e.t.Helper()
	s := NewPushSubscription(e.t, user, endpoint(name))
	require.NoError(e.t, e.s.SavePushSubscription(e.ctx, s), name)
	return s
}

func (e *pushEnv) list(user int64) []chat.PushSubscription {
	e.t.Helper()
	subs, err := e.s.PushSubscriptions(e.ctx, user)
	require.NoError(e.t, err)
	return subs
}

// endpoints are the subscriptions' endpoint names (after endpoint's prefix), in order.
func endpoints(subs []chat.PushSubscription) []string {
	out := []string{}
	for _, s := range subs {
		out = append(out, strings.TrimPrefix(s.Endpoint, endpoint("")))
	}
	return out
}

func pushBasics(e *pushEnv) {
	t, s, ctx := e.t, e.s, e.ctx
	alice, bob := e.user("alice"), e.user("bob")
	phone := e.save(alice, "phone")
	laptop := e.save(alice, "laptop")
	tablet := e.save(bob, "tablet")

	got := e.list(alice)
	require.Len(t, got, 2)
	assert.Equal(t, []string{"phone", "laptop"}, endpoints(got), "oldest first")
	for i, want := range []chat.PushSubscription{phone, laptop} {
		assert.Equal(t, alice, got[i].UserID)
		assert.Equal(t, want.Endpoint, got[i].Endpoint)
		assert.Equal(t, want.P256dh, got[i].P256dh)
		assert.Equal(t, want.Auth, got[i].Auth)
		assert.False(t, got[i].CreatedAt.IsZero())
	}
	assert.False(t, got[1].CreatedAt.Before(got[0].CreatedAt))
	assert.Equal(t, []string{"tablet"}, endpoints(e.list(bob)))
	assert.Empty(t, e.list(alice+bob), "an unknown user has none")

	require.NoError(t, s.DeletePushSubscription(ctx, alice, phone.Endpoint))
	assert.Equal(t, []string{"laptop"}, endpoints(e.list(alice)))
	require.NoError(t, s.DeletePushSubscription(ctx, alice, phone.Endpoint), "deleting it again is not an error")
	require.NoError(t, s.DeletePushSubscription(ctx, alice, endpoint("never-saved")), "an unknown endpoint is not an error")
	require.NoError(t, s.DeletePushSubscription(ctx, alice, tablet.Endpoint), "another user's endpoint is not an error")
	assert.Equal(t, []string{"tablet"}, endpoints(e.list(bob)), "and leaves it to its owner")
	assert.Equal(t, []string{"laptop"}, endpoints(e.list(alice)))
}

func pushValidation(e *pushEnv) {
	t, s, ctx := e.t, e.s, e.ctx
	alice := e.user("alice")
	ok := NewPushSubscription(t, alice, endpoint("ok"))
	for name, mut := range map[string]func(*chat.PushSubscription){
		"no endpoint":       func(p *chat.PushSubscription) { p.Endpoint = "" },
		"http endpoint":     func(p *chat.PushSubscription) { p.Endpoint = "http://push.example.com/x" },
		"relative endpoint": func(p *chat.PushSubscription) { p.Endpoint = "/push/x" },
		"endpoint too long": func(p *chat.PushSubscription) {
			p.Endpoint = "https://push.example.com/" + strings.Repeat("x", chat.MaxPushEndpointBytes)
		},
		"p256dh not base64url": func(p *chat.PushSubscription) { p.P256dh = "not base64!" },
		"p256dh too short":     func(p *chat.PushSubscription) { p.P256dh = p.P256dh[:40] },
		"auth of 12 bytes":     func(p *chat.PushSubscription) { p.Auth = base64.RawURLEncoding.EncodeToString(make([]byte, 12)) },
		"no keys":              func(p *chat.PushSubscription) { p.P256dh, p.Auth = "", "" },
	} {
		bad := ok
		mut(&bad)
		err := s.SavePushSubscription(ctx, bad)
		assert.ErrorIs(t, err, chat.ErrInvalid, name)
	}
	assert.Empty(t, e.list(alice), "nothing invalid was stored")

	err := s.SavePushSubscription(ctx, NewPushSubscription(t, alice+1, endpoint("nobody")))
	assert.ErrorIs(t, err, chat.ErrNotFound, "an unknown user")

	padded := ok
	padded.Auth += "=="
	padded.P256dh += "="
	require.NoError(t, s.SavePushSubscription(ctx, padded), "padding is optional")
	assert.Equal(t, []string{"ok"}, endpoints(e.list(alice)))
}

func pushResave(e *pushEnv) {
	t := e.t
	alice := e.user("alice")
	e.save(alice, "phone")
	first := e.list(alice)[0]
	renewed := e.save(alice, "phone") // new keys for the same endpoint
	got := e.list(alice)
	require.Len(t, got, 1, "one subscription per endpoint")
	assert.Equal(t, renewed.P256dh, got[0].P256dh)
	assert.Equal(t, renewed.Auth, got[0].Auth)
	assert.False(t, got[0].CreatedAt.Before(first.CreatedAt), "saving again refreshes CreatedAt")
}

func pushMove(e *pushEnv) {
	t := e.t
	alice, bob := e.user("alice"), e.user("bob")
	e.save(alice, "shared-laptop")
	e.save(alice, "phone")
	moved := e.save(bob, "shared-laptop")
	assert.Equal(t, []string{"phone"}, endpoints(e.list(alice)), "alice no longer gets bob's browser's pushes")
	got := e.list(bob)
	require.Len(t, got, 1)
	assert.Equal(t, moved.Endpoint, got[0].Endpoint)
	assert.Equal(t, moved.P256dh, got[0].P256dh)
	assert.Equal(t, bob, got[0].UserID)
}

func pushCap(e *pushEnv) {
	t := e.t
	alice, bob := e.user("alice"), e.user("bob")
	e.save(bob, "bob-phone")
	var want []string
	for i := range chat.MaxPushSubscriptions {
		name := fmt.Sprintf("d%02d", i)
		e.save(alice, name)
		want = append(want, name)
	}
	assert.Equal(t, want, endpoints(e.list(alice)), "exactly at the cap")

	e.save(alice, "d00") // the oldest, saved again, becomes the newest
	e.save(alice, "new1")
	want = append(append([]string{}, want[2:]...), "d00", "new1")
	assert.Equal(t, want, endpoints(e.list(alice)), "d01, the oldest, was dropped; d00 was refreshed")
	e.save(alice, "new2")
	assert.Equal(t, append(want[1:], "new2"), endpoints(e.list(alice)), "then d02")
	assert.Equal(t, []string{"bob-phone"}, endpoints(e.list(bob)), "another user's subscriptions do not count")
}

func pushRace(e *pushEnv) {
	t, s, ctx := e.t, e.s, e.ctx
	alice, bob := e.user("alice"), e.user("bob")
	const savers = 3 * chat.MaxPushSubscriptions
	subs := make([]chat.PushSubscription, savers)
	for i := range subs {
		subs[i] = NewPushSubscription(t, alice, endpoint(fmt.Sprintf("r%02d", i)))
	}
	// Half of the rounds also race alice and bob for one endpoint.
	shared := []chat.PushSubscription{NewPushSubscription(t, alice, endpoint("shared")), NewPushSubscription(t, bob, endpoint("shared"))}
	errs := make([]error, savers+len(shared))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range subs {
		wg.Go(func() { <-start; errs[i] = s.SavePushSubscription(ctx, subs[i]) })
	}
	for i := range shared {
		wg.Go(func() { <-start; errs[savers+i] = s.SavePushSubscription(ctx, shared[i]) })
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "save %d", i)
	}
	a, b := e.list(alice), e.list(bob)
	// Alice keeps the cap, unless bob took the shared endpoint after it counted in her cap (it
	// pushed one of hers out and then left her): then she has one fewer.
	if len(b) == 0 {
		assert.Len(t, a, chat.MaxPushSubscriptions, "alice: %v", endpoints(a))
	} else {
		assert.Contains(t, []int{chat.MaxPushSubscriptions - 1, chat.MaxPushSubscriptions}, len(a), "alice: %v", endpoints(a))
	}
	owners := 0
	for _, list := range [][]chat.PushSubscription{a, b} {
		for _, sub := range list {
			if sub.Endpoint == endpoint("shared") {
				owners++
			}
		}
	}
	assert.LessOrEqual(t, owners, 1, "an endpoint has at most one owner")
	if len(b) == 0 {
		// alice won the endpoint, or her later saves dropped it: either way bob does not have it.
		return
	}
	assert.Equal(t, []string{"shared"}, endpoints(b))
}
