package api

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/chat"
	"github.com/hyperscaledesignhub/DesignSystems/shared/httpx"
)

// Web Push registration: the browser asks for the application server's VAPID public key,
// subscribes with its PushManager and posts the subscription here; chat-notifier (SENDER=webpush)
// reads the subscriptions from the same store and pushes to them.

// PushKeyResponse is the answer of GET /v1/push/key.
type PushKeyResponse struct {
	// PublicKey is the VAPID public key (RFC 8292), base64url: the applicationServerKey of
	// PushManager.subscribe.
	PublicKey string `json:"public_key"`
}

// PushSubscriptionRequest is the body of POST /v1/push/subscriptions: the browser's
// PushSubscription.toJSON(), as is.
type PushSubscriptionRequest struct {
	Endpoint string `json:"endpoint"`
	// ExpirationTime (ms since the epoch, usually null) is accepted and not kept: a push to an
	// expired subscription answers 404 or 410, and the notifier deletes it then.
	ExpirationTime *float64 `json:"expirationTime"`
	Keys           PushKeys `json:"keys"`
}

// PushKeys are a subscription's keys, base64url.
type PushKeys struct {
	P256dh string `json:"p256dh"`
	Auth   string `json:"auth"`
}

// PushUnsubscribeRequest is the body of DELETE /v1/push/subscriptions.
type PushUnsubscribeRequest struct {
	Endpoint string `json:"endpoint"`
}

var errPushOff = httpx.NewProblem(http.StatusNotFound, "web push is not configured on this server (VAPID_PUBLIC_KEY)")

// pushKey serves the VAPID public key; 404 when push is off, which is how the web client knows
// to hide its notifications switch.
func (a *API) pushKey(w http.ResponseWriter, r *http.Request) {
	if a.vapidKey == "" {
		a.fail(w, r, errPushOff)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, PushKeyResponse{PublicKey: a.vapidKey})
}

// subscribePush registers the caller's browser: 201 also when it was registered already (the
// keys are replaced) or by another user (it moves to the caller).
func (a *API) subscribePush(w http.ResponseWriter, r *http.Request) {
	if a.vapidKey == "" {
		a.fail(w, r, errPushOff)
		return
	}
	var req PushSubscriptionRequest
	if err := httpx.DecodeJSON(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	sub := chat.PushSubscription{UserID: userID(r), Endpoint: req.Endpoint, P256dh: req.Keys.P256dh, Auth: req.Keys.Auth}
	if u, err := url.Parse(req.Endpoint); err == nil && !chat.PushHostAllowed(u.Hostname(), a.pushHosts) {
		a.fail(w, r, httpx.NewProblem(http.StatusBadRequest, fmt.Sprintf(
			"endpoint host %q is not an allowed push service (PUSH_HOSTS: %s)", u.Hostname(), strings.Join(a.pushHosts, ","))))
		return
	}
	if err := a.push.SavePushSubscription(r.Context(), sub); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusCreated)
}

// unsubscribePush deletes the caller's subscription with the endpoint: 204 also when there was
// none, so a retry or a stale client is not an error. It needs no VAPID key, so a browser can
// clean up after push was switched off.
func (a *API) unsubscribePush(w http.ResponseWriter, r *http.Request) {
	if a.push == nil {
		a.fail(w, r, errPushOff)
		return
	}
	var req PushUnsubscribeRequest
	if err := httpx.DecodeJSON(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	if err := chat.ValidatePushEndpoint(req.Endpoint); err != nil {
		a.fail(w, r, err)
		return
	}
	if err := a.push.DeletePushSubscription(r.Context(), userID(r), req.Endpoint); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
