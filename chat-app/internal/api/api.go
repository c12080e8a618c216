// Package api serves chat-app's HTTP JSON API: accounts and tokens (signup, login), contacts,
// conversations and their members, history and sending over HTTP, and the registration of Web
// Push subscriptions. Routes are in routes.go, the wire types in types.go (push.go has its own).
// Live delivery is the WebSocket gateway's job; a send accepted here is handed to a Publisher so
// connected clients see it at once.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/auth"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/chat"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/limit"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/send"
)

// Publisher tells a user's connected sessions about a membership change so they start or stop
// that conversation (gateway.Publisher). Messages are published by the send use case (Sender).
type Publisher interface {
	Membership(ctx context.Context, conv, user int64, added bool) error
}

// Options configure an API. Zero values take the defaults in brackets.
type Options struct {
	Store     chat.Store
	Tokens    *auth.Tokens
	Publisher Publisher // nil: membership changes are not announced live (clients see them on their next request)
	// Sender is the send use case (rate limit, group commit, publish, notification hook,
	// metrics), the same one the WebSocket gateway of the deployment uses, so an HTTP send is
	// batched, published and counted as a WebSocket send is. Nil: one for this API alone that
	// stores without publishing, with the default budget.
	Sender *send.Service
	Logger *slog.Logger // (slog.Default())
	// Per client IP, signup and login share a token bucket: LoginBurst (10) attempts at once,
	// refilled at LoginPerMinute (30). They cost a bcrypt hash each and are what a password
	// guesser hammers. LoginPerMinute < 0 disables the limit.
	LoginPerMinute float64
	LoginBurst     int
	Now            func() time.Time // (time.Now) the login limiter's clock
	PublishTimeout time.Duration    // (2s) bounds the announcement of a membership change
	// Push stores the browsers' Web Push subscriptions (routes /v1/push/...); nil: those routes
	// answer 404. VAPIDPublicKey is the application server's public key (base64url, the
	// notifier's VAPID_PUBLIC_KEY) that browsers subscribe with; empty: push is off, and GET
	// /v1/push/key and POST /v1/push/subscriptions answer 404. It needs Push.
	Push           chat.PushStore
	VAPIDPublicKey string
	// PushHosts are the push services a subscription's endpoint may point at (chat.DefaultPushHosts):
	// the notifier POSTs to whatever endpoint a user registers, so without this list any user
	// could aim it at internal addresses. A pattern is a host name or "*." and a domain suffix.
	PushHosts []string
}

// API is the HTTP API. Build it with New and mount it with Routes.
type API struct {
	store     chat.Store
	tokens    *auth.Tokens
	publisher Publisher
	log       *slog.Logger
	logins    *limit.Keyed[string] // per client IP; nil: no login limit
	sender    *send.Service
	pubWait   time.Duration
	push      chat.PushStore // nil: no push routes
	vapidKey  string         // empty: push is off

	pushHosts []string
	dummy     string // a bcrypt hash checked for unknown users, so they take as long as known ones
}

// New checks o and returns the API.
func New(o Options) (*API, error) {
	if o.Store == nil || o.Tokens == nil {
		return nil, errors.New("api: Store and Tokens are required")
	}
	if o.VAPIDPublicKey != "" {
		if o.Push == nil {
			return nil, errors.New("api: VAPIDPublicKey needs Push, the store of the subscriptions")
		}
		if err := chat.ValidateP256Key("VAPID public key", o.VAPIDPublicKey); err != nil {
			return nil, fmt.Errorf("api: %w", err)
		}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if len(o.PushHosts) == 0 {
		o.PushHosts = chat.DefaultPushHosts
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sender == nil {
		var err error
		if o.Sender, err = send.New(send.Options{Store: o.Store, Logger: o.Logger}); err != nil {
			return nil, err
		}
	}
	if o.PublishTimeout <= 0 {
		o.PublishTimeout = 2 * time.Second
	}
	dummy, err := auth.HashPassword("not the password of anyone at all")
	if err != nil {
		return nil, err
	}
	a := &API{store: o.Store, tokens: o.Tokens, publisher: o.Publisher, log: o.Logger, pubWait: o.PublishTimeout,
		push: o.Push, vapidKey: o.VAPIDPublicKey, pushHosts: o.PushHosts, dummy: dummy, sender: o.Sender}
	if o.LoginPerMinute >= 0 {
		if o.LoginPerMinute == 0 {
			o.LoginPerMinute = 30
		}
		if o.LoginBurst <= 0 {
			o.LoginBurst = 10
		}
		a.logins = limit.New[string](o.LoginPerMinute/60, o.LoginBurst, o.Now)
	}
	return a, nil
}
