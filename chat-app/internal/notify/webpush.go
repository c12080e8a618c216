package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/SherClockHolmes/webpush-go"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/chat"
)

// Subscriptions are the Web Push subscriptions of each user, as the sender needs them.
// PushStoreSubscriptions reads them from a chat.PushStore: the one chat-api registers them in
// (POST /v1/push/subscriptions).
type Subscriptions interface {
	Subscriptions(ctx context.Context, user int64) ([]webpush.Subscription, error)
	// Remove drops a subscription the push service said is gone.
	Remove(ctx context.Context, user int64, endpoint string) error
}

// PushStoreSubscriptions adapts a chat.PushStore (PostgreSQL in chat-notifier) to Subscriptions.
type PushStoreSubscriptions struct{ Store chat.PushStore }

// Subscriptions implements Subscriptions.
func (p PushStoreSubscriptions) Subscriptions(ctx context.Context, user int64) ([]webpush.Subscription, error) {
	subs, err := p.Store.PushSubscriptions(ctx, user)
	if err != nil {
		return nil, err
	}
	out := make([]webpush.Subscription, len(subs))
	for i, s := range subs {
		out[i] = webpush.Subscription{Endpoint: s.Endpoint, Keys: webpush.Keys{P256dh: s.P256dh, Auth: s.Auth}}
	}
	return out, nil
}

// Remove implements Subscriptions. It deletes the subscription only if it still belongs to user:
// one that moved to another user in the meantime stays, and their next push prunes it if it is
// really gone.
func (p PushStoreSubscriptions) Remove(ctx context.Context, user int64, endpoint string) error {
	return p.Store.DeletePushSubscription(ctx, user, endpoint)
}

// WebPushOptions configure a WebPushSender. Subscriptions and the VAPID keys are required.
type WebPushOptions struct {
	Subscriptions Subscriptions
	// VAPIDPublicKey and VAPIDPrivateKey are the application server's keys (RFC 8292), base64url
	// as webpush.GenerateVAPIDKeys makes them; the browser subscribed with the public one.
	VAPIDPublicKey  string
	VAPIDPrivateKey string
	// Subject is the contact the push service may use: "mailto:ops@example.com" or an https URL.
	Subject    string
	TTL        time.Duration // how long the push service keeps an undelivered message (1h)
	HTTPClient *http.Client  // (a client with a 10s timeout)
	Logger     *slog.Logger  // (slog.Default())
	// Hosts are the push services it POSTs to (chat.DefaultPushHosts): a stored subscription
	// naming another host (saved before the list was tightened) is skipped and removed.
	Hosts []string
}

// WebPushSender sends each job to every Web Push subscription of its user: the payload is
// encrypted for the subscription (RFC 8291, aes128gcm) and signed with VAPID (RFC 8292) by
// github.com/SherClockHolmes/webpush-go. A subscription the push service answers 404 or 410 for
// has expired and is removed. A job is retried when any subscription failed otherwise, so a
// device that already got it may get it again on the retry.
type WebPushSender struct {
	o WebPushOptions
}

// NewWebPushSender checks o.
func NewWebPushSender(o WebPushOptions) (*WebPushSender, error) {
	if o.Subscriptions == nil {
		return nil, errors.New("notify: web push needs Subscriptions")
	}
	if o.VAPIDPublicKey == "" || o.VAPIDPrivateKey == "" || o.Subject == "" {
		return nil, errors.New("notify: web push needs the VAPID public key, private key and subject")
	}
	if o.TTL <= 0 {
		o.TTL = time.Hour
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if len(o.Hosts) == 0 {
		o.Hosts = chat.DefaultPushHosts
	}
	// webpush-go prefixes "mailto:" to any subject that is not an https URL.
	o.Subject = strings.TrimPrefix(o.Subject, "mailto:")
	return &WebPushSender{o: o}, nil
}

// Payload is what the service worker receives (JSON, decrypted by the browser).
type Payload struct {
	Title          string `json:"title"`
	Body           string `json:"body"`
	ConversationID string `json:"conversation_id"` // IDs as strings, as in the protocol
	Seq            int64  `json:"seq"`
}

// Send implements Sender.
func (s *WebPushSender) Send(ctx context.Context, j Job) error {
	subs, err := s.o.Subscriptions.Subscriptions(ctx, j.UserID)
	if err != nil {
		return fmt.Errorf("subscriptions of user %d: %w", j.UserID, err)
	}
	if len(subs) == 0 {
		return nil // nothing to deliver to; the user sees the messages on their next sync
	}
	payload, err := json.Marshal(Payload{Title: "New messages", Body: j.Preview,
		ConversationID: fmt.Sprint(j.ConversationID), Seq: j.Seq})
	if err != nil {
		return fmt.Errorf("encode payload: %w", err)
	}
	var errs []error
	for i := range subs {
		if u, err := url.Parse(subs[i].Endpoint); err != nil || !chat.PushHostAllowed(u.Hostname(), s.o.Hosts) {
			s.o.Logger.WarnContext(ctx, "web push: endpoint host not allowed (PUSH_HOSTS); subscription removed",
				"user_id", j.UserID, "endpoint", subs[i].Endpoint)
			if err := s.o.Subscriptions.Remove(ctx, j.UserID, subs[i].Endpoint); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		if err := s.push(ctx, j, &subs[i], payload); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s *WebPushSender) push(ctx context.Context, j Job, sub *webpush.Subscription, payload []byte) error {
	res, err := webpush.SendNotificationWithContext(ctx, payload, sub, &webpush.Options{
		HTTPClient:      s.o.HTTPClient,
		Subscriber:      s.o.Subject,
		VAPIDPublicKey:  s.o.VAPIDPublicKey,
		VAPIDPrivateKey: s.o.VAPIDPrivateKey,
		TTL:             int(s.o.TTL / time.Second),
		// One pending notification per conversation on the push service: a newer one replaces it.
		Topic:   fmt.Sprintf("c%d", j.ConversationID),
		Urgency: webpush.UrgencyNormal,
	})
	if err != nil {
		return fmt.Errorf("web push to %s: %w", host(sub.Endpoint), err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 4096))
	switch {
	case res.StatusCode >= 200 && res.StatusCode < 300:
		return nil
	case res.StatusCode == http.StatusNotFound || res.StatusCode == http.StatusGone:
		s.o.Logger.InfoContext(ctx, "web push subscription expired", "user_id", j.UserID, "push_service", host(sub.Endpoint))
		if err := s.o.Subscriptions.Remove(ctx, j.UserID, sub.Endpoint); err != nil {
			return fmt.Errorf("remove expired subscription: %w", err)
		}
		return nil
	default:
		return fmt.Errorf("web push to %s: status %d", host(sub.Endpoint), res.StatusCode)
	}
}

// host is the push service of an endpoint, for logs: the rest of the URL identifies the device.
func host(endpoint string) string {
	rest, _ := strings.CutPrefix(endpoint, "https://")
	rest, _ = strings.CutPrefix(rest, "http://")
	h, _, _ := strings.Cut(rest, "/")
	return h
}
