package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/chat"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/presence"
)

// DefaultBurstWindow is how long one notification covers a conversation for a user.
const DefaultBurstWindow = time.Minute

// PreviewBytes bounds Job.Preview.
const PreviewBytes = 120

// Members lists a conversation's members (chat.Store satisfies it).
type Members interface {
	Members(ctx context.Context, conv int64) ([]chat.Member, error)
}

// Presence answers users' statuses (presence.Tracker satisfies it).
type Presence interface {
	Statuses(ctx context.Context, users []int64) ([]presence.Status, error)
}

// Burst admits the first notification of a (user, conversation) per window.
type Burst interface {
	// First reports whether this is the first call for (user, conv) within window, and if so
	// starts the window.
	First(ctx context.Context, user, conv int64, window time.Duration) (bool, error)
	// Forget ends the window early (the job could not be enqueued: the next message may retry).
	Forget(ctx context.Context, user, conv int64) error
}

// PolicyOptions configure a Policy. Members, Presence, Burst and Queue are required.
type PolicyOptions struct {
	Members    Members
	Presence   Presence
	Burst      Burst
	Queue      Queue
	Window     time.Duration // DefaultBurstWindow
	Timeout    time.Duration // bounds one OnCreated (2s)
	Logger     *slog.Logger  // (slog.Default())
	Registerer prometheus.Registerer
}

// Policy decides who is notified of a message: every member but the sender whose presence is
// offline, at most once per (user, conversation) and burst window — a burst of 20 messages to an
// offline user is one notification. Away counts as connected: the user's device shows the message.
type Policy struct {
	o        PolicyOptions
	enqueued prometheus.Counter
	errs     prometheus.Counter
}

// NewPolicy checks o and fills in the defaults.
func NewPolicy(o PolicyOptions) (*Policy, error) {
	if o.Members == nil || o.Presence == nil || o.Burst == nil || o.Queue == nil {
		return nil, errors.New("notify: Members, Presence, Burst and Queue are required")
	}
	if o.Window <= 0 {
		o.Window = DefaultBurstWindow
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	reg := o.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	p := &Policy{o: o}
	var err error
	if p.enqueued, err = register(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "chat_notify_enqueued_total", Help: "Notification jobs enqueued for offline users."})); err != nil {
		return nil, err
	}
	if p.errs, err = register(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "chat_notify_policy_errors_total", Help: "Messages whose notifications could not be decided or enqueued."})); err != nil {
		return nil, err
	}
	return p, nil
}

// OnCreated enqueues the notifications of newly stored messages; it is the gateway's hook (one
// call per stored batch of a conversation) and the API's (one message). Edits and deletes notify
// nobody. A conversation costs one Members read and one Statuses round trip per call, whatever
// the number of messages. Failures are logged: the messages are stored and reach their users on
// their next sync either way.
func (p *Policy) OnCreated(ctx context.Context, ms []chat.Message) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.o.Timeout)
	defer cancel()
	for conv, texts := range byConversation(ms) {
		if err := p.onCreated(ctx, conv, texts); err != nil {
			p.errs.Add(float64(len(texts)))
			p.o.Logger.WarnContext(ctx, "notify", "conversation_id", conv, "messages", len(texts), "err", err)
		}
	}
}

// byConversation groups the text messages of ms by conversation, each group in ms's order.
func byConversation(ms []chat.Message) map[int64][]chat.Message {
	out := map[int64][]chat.Message{}
	for _, m := range ms {
		if m.Kind == chat.Text {
			out[m.ConversationID] = append(out[m.ConversationID], m)
		}
	}
	return out
}

func (p *Policy) onCreated(ctx context.Context, conv int64, ms []chat.Message) error {
	members, err := p.o.Members.Members(ctx, conv)
	if err != nil {
		return fmt.Errorf("members: %w", err)
	}
	users := make([]int64, len(members))
	for i, mb := range members {
		users[i] = mb.UserID
	}
	statuses, err := p.o.Presence.Statuses(ctx, users)
	if err != nil {
		return fmt.Errorf("presence: %w", err)
	}
	var errs []error
	done := map[int64]bool{} // offline users already decided in this call: one burst check each
	for _, m := range ms {
		for i, user := range users {
			if user == m.SenderID || statuses[i] != presence.Offline || done[user] {
				continue
			}
			done[user] = true
			if err := p.notify(ctx, user, m); err != nil {
				errs = append(errs, fmt.Errorf("user %d: %w", user, err))
			}
		}
	}
	return errors.Join(errs...)
}

// notify enqueues m's notification for an offline user unless a burst window covers it.
func (p *Policy) notify(ctx context.Context, user int64, m chat.Message) error {
	first, err := p.o.Burst.First(ctx, user, m.ConversationID, p.o.Window)
	if err != nil {
		return fmt.Errorf("burst window: %w", err)
	}
	if !first {
		return nil
	}
	j := Job{UserID: user, ConversationID: m.ConversationID, SenderID: m.SenderID, MessageID: m.ID, Seq: m.Seq,
		Preview: preview(m.Body), CreatedAt: m.CreatedAt}
	if err := p.o.Queue.Enqueue(ctx, j); err != nil {
		if ferr := p.o.Burst.Forget(ctx, user, m.ConversationID); ferr != nil {
			err = errors.Join(err, ferr)
		}
		return err
	}
	p.enqueued.Inc()
	return nil
}

// preview cuts body to at most PreviewBytes bytes, on a rune boundary.
func preview(body string) string {
	if len(body) <= PreviewBytes {
		return body
	}
	cut := PreviewBytes
	for cut > 0 && !utf8.RuneStart(body[cut]) {
		cut--
	}
	return body[:cut] + "…"
}

// MemoryBurst is Burst in process memory, for the single-process default.
type MemoryBurst struct {
	now func() time.Time
	mu  sync.Mutex
	end map[[2]int64]time.Time
}

// NewMemoryBurst returns an empty MemoryBurst; now is its clock (nil: time.Now).
func NewMemoryBurst(now func() time.Time) *MemoryBurst {
	if now == nil {
		now = time.Now
	}
	return &MemoryBurst{now: now, end: map[[2]int64]time.Time{}}
}

// First implements Burst.
func (b *MemoryBurst) First(_ context.Context, user, conv int64, window time.Duration) (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	if len(b.end) > 4096 { // drop ended windows now and then, so the map does not grow forever
		for k, e := range b.end {
			if !now.Before(e) {
				delete(b.end, k)
			}
		}
	}
	k := [2]int64{user, conv}
	if e, ok := b.end[k]; ok && now.Before(e) {
		return false, nil
	}
	b.end[k] = now.Add(window)
	return true, nil
}

// Forget implements Burst.
func (b *MemoryBurst) Forget(_ context.Context, user, conv int64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.end, [2]int64{user, conv})
	return nil
}

// RedisBurst is Burst on Redis: SET <prefix>chat:notify:burst:<user>:<conv> NX PX window, so all
// gateway and API processes share the window.
type RedisBurst struct {
	rdb    *redis.Client
	prefix string
}

// NewRedisBurst returns a RedisBurst with keys under prefix.
func NewRedisBurst(rdb *redis.Client, prefix string) *RedisBurst {
	return &RedisBurst{rdb: rdb, prefix: prefix + "chat:notify:burst:"}
}

func (b *RedisBurst) key(user, conv int64) string {
	return b.prefix + strconv.FormatInt(user, 10) + ":" + strconv.FormatInt(conv, 10)
}

// First implements Burst.
func (b *RedisBurst) First(ctx context.Context, user, conv int64, window time.Duration) (bool, error) {
	ok, err := b.rdb.SetNX(ctx, b.key(user, conv), 1, window).Result()
	if err != nil {
		return false, fmt.Errorf("set nx %s: %w", b.key(user, conv), err)
	}
	return ok, nil
}

// Forget implements Burst.
func (b *RedisBurst) Forget(ctx context.Context, user, conv int64) error {
	if err := b.rdb.Del(ctx, b.key(user, conv)).Err(); err != nil {
		return fmt.Errorf("del %s: %w", b.key(user, conv), err)
	}
	return nil
}

// register registers c, or returns the collector already registered under its name (several
// workers or policies in one process share a registry).
func register[T prometheus.Collector](reg prometheus.Registerer, c T) (T, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(T); ok {
				return existing, nil
			}
		}
		return c, fmt.Errorf("register metric: %w", err)
	}
	return c, nil
}
