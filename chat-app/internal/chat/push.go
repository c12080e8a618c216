package chat

import (
	"context"
	"crypto/ecdh"
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Limits of Web Push subscriptions.
const (
	MaxPushEndpointBytes = 2048
	// MaxPushSubscriptions is how many subscriptions (browsers, devices) a user keeps; saving one
	// more drops the oldest.
	MaxPushSubscriptions = 10
)

// PushSubscription is one browser's Web Push subscription (the PushSubscription.toJSON() of the
// Push API, https://www.w3.org/TR/push-api/): the push service URL to POST to and the keys the
// payload is encrypted for (RFC 8291). The endpoint identifies the subscription: it is unique
// across users.
type PushSubscription struct {
	UserID   int64
	Endpoint string // an https URL of the browser's push service (FCM, Mozilla, Apple)
	P256dh   string // base64url: the browser's P-256 public key, uncompressed (65 bytes)
	Auth     string // base64url: the 16-byte authentication secret
	// CreatedAt is when the subscription was last saved: saving it again refreshes it, so the
	// subscription dropped at MaxPushSubscriptions is the one registered longest ago.
	CreatedAt time.Time
}

// DefaultPushHosts are the push services of Chrome/Edge (FCM), Firefox, Safari and Windows: the
// hosts a subscription's endpoint may name unless configured otherwise (PUSH_HOSTS).
var DefaultPushHosts = []string{"fcm.googleapis.com", "*.push.services.mozilla.com", "*.push.apple.com", "*.notify.windows.com"}

// PushHostAllowed matches host against patterns: equal, or under the domain of a "*." pattern.
// The notifier POSTs to whatever endpoint a user registered, so both the API (at registration)
// and the notifier (at send time, for subscriptions stored before the list changed) check it.
func PushHostAllowed(host string, patterns []string) bool {
	host = strings.ToLower(host)
	for _, p := range patterns {
		p = strings.ToLower(p)
		if host == p {
			return true
		}
		if domain, ok := strings.CutPrefix(p, "*."); ok && strings.HasSuffix(host, "."+domain) {
			return true
		}
	}
	return false
}

// PushStore persists push subscriptions. It is a port of its own, apart from Store: the API
// writes it and the notifier reads and prunes it.
type PushStore interface {
	// SavePushSubscription stores s (UserID, Endpoint, P256dh, Auth) with CreatedAt now. It
	// upserts by endpoint: the same endpoint again replaces the keys, and an endpoint saved by
	// another user moves to s.UserID (the browser profile changed hands). A user keeps at most
	// MaxPushSubscriptions; the oldest beyond that are deleted. ErrInvalid when s breaks
	// ValidatePushSubscription, ErrNotFound for an unknown user.
	SavePushSubscription(ctx context.Context, s PushSubscription) error
	// PushSubscriptions are user's subscriptions, oldest first; none for an unknown user.
	PushSubscriptions(ctx context.Context, user int64) ([]PushSubscription, error)
	// DeletePushSubscription deletes user's subscription with endpoint. An endpoint that is
	// unknown, or that belongs to another user, is not an error and changes nothing.
	DeletePushSubscription(ctx context.Context, user int64, endpoint string) error
}

// ValidatePushSubscription checks what a browser sent: an absolute https endpoint of at most
// MaxPushEndpointBytes (http only on localhost and 127.0.0.1, for tests against a local push
// service), a p256dh that is an uncompressed P-256 point and a 16-byte auth secret, both
// base64url with or without padding.
func ValidatePushSubscription(s PushSubscription) error {
	if err := ValidatePushEndpoint(s.Endpoint); err != nil {
		return err
	}
	if err := ValidateP256Key("p256dh", s.P256dh); err != nil {
		return err
	}
	auth, err := decodeBase64URL(s.Auth)
	if err != nil {
		return fmt.Errorf("%w: auth is not base64url: %v", ErrInvalid, err)
	}
	if len(auth) != 16 {
		return fmt.Errorf("%w: auth must be 16 bytes, not %d", ErrInvalid, len(auth))
	}
	return nil
}

// ValidatePushEndpoint checks a subscription's endpoint (see ValidatePushSubscription).
func ValidatePushEndpoint(endpoint string) error {
	if endpoint == "" {
		return fmt.Errorf("%w: endpoint is required", ErrInvalid)
	}
	if len(endpoint) > MaxPushEndpointBytes {
		return fmt.Errorf("%w: endpoint of %d bytes is over %d", ErrInvalid, len(endpoint), MaxPushEndpointBytes)
	}
	u, err := url.Parse(endpoint)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("%w: endpoint must be an absolute URL", ErrInvalid)
	}
	if u.User != nil {
		return fmt.Errorf("%w: endpoint must not carry user information", ErrInvalid)
	}
	switch host := u.Hostname(); {
	case u.Scheme == "https":
	case u.Scheme == "http" && (host == "localhost" || host == "127.0.0.1"):
	default:
		return fmt.Errorf("%w: endpoint must be an https URL", ErrInvalid)
	}
	return nil
}

// decodeBase64URL decodes base64url (RFC 4648 §5), padded or not.
// ValidateP256Key checks a public key in the form Web Push uses for the browser's key (p256dh) and
// the application server's VAPID key: base64url, with or without padding, of an uncompressed
// P-256 point (65 bytes starting 0x04). name names it in the error, which wraps ErrInvalid.
func ValidateP256Key(name, key string) error {
	raw, err := decodeBase64URL(key)
	if err != nil {
		return fmt.Errorf("%w: %s is not base64url: %v", ErrInvalid, name, err)
	}
	if len(raw) != 65 || raw[0] != 0x04 {
		return fmt.Errorf("%w: %s must be an uncompressed P-256 point (65 bytes starting 0x04), not %d bytes", ErrInvalid, name, len(raw))
	}
	if _, err := ecdh.P256().NewPublicKey(raw); err != nil {
		return fmt.Errorf("%w: %s is not a point on P-256", ErrInvalid, name)
	}
	return nil
}

func decodeBase64URL(s string) ([]byte, error) {
	if strings.HasSuffix(s, "=") {
		return base64.URLEncoding.DecodeString(s)
	}
	return base64.RawURLEncoding.DecodeString(s)
}
