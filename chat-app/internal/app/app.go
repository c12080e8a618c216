// Package app assembles a chat server from its settings: the store (memory or PostgreSQL), the
// fan-out bus and presence tracker (memory or Redis), tokens, the HTTP API and the WebSocket
// gateway. The binaries (chat, chat-api, chat-gateway) differ only in which parts they serve.
package app

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/api"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/auth"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/chat"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/fanout"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/gateway"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/limit"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/memstore"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/notify"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/pgstore"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/presence"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/redisbus"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/send"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/snowflake"
	"github.com/hyperscaledesignhub/DesignSystems/shared/httpx"
)

// Options say which parts to build and on what. Zero values take the defaults in brackets.
type Options struct {
	API     bool // serve the HTTP API (/v1/...)
	Gateway bool // serve the WebSocket gateway (/ws and /v1/ws)

	DatabaseURL string // empty: in-memory store
	// Migrate applies the PostgreSQL migrations at start (safe when several processes start at
	// once). The process that serves the API owns them; a standalone gateway does not.
	Migrate bool
	// RedisURL is the fan-out bus and presence store shared by replicas. Empty: in memory, one
	// replica; an API-only process then publishes nowhere (clients get HTTP sends on their next
	// sync).
	RedisURL string
	// KeyPrefix goes before every Redis key and pub/sub channel name ("<prefix>chat:..."): the
	// bus channels, presence keys and the notification stream and burst keys, so that several
	// deployments (or tests) can share one Redis. Every process of a deployment uses the same
	// one, and chat-notifier's KEY_PREFIX must match it. Empty by default.
	KeyPrefix string

	Secret   []byte        // HS256 signing key, at least auth.MinSecretBytes; see Secret
	TokenTTL time.Duration // (24h)
	NodeID   int           // snowflake node, unique per replica

	// LoginPerMinute and LoginBurst are api.Options' per-IP signup/login limit; negative
	// LoginPerMinute disables it.
	LoginPerMinute float64
	LoginBurst     int

	// VAPIDPublicKey is the Web Push application server key (base64url) the API hands to browsers
	// (GET /v1/push/key) so they can subscribe; the subscriptions go to the store, and
	// chat-notifier, with the matching private key, pushes to them. Empty: push is off.
	VAPIDPublicKey string
	PushHosts      []string // push services endpoints may point at (chat.DefaultPushHosts)

	AllowedOrigins []string // browser origin host patterns for the WebSocket upgrade
	// PresenceGroupLimit is the largest conversation whose members see each other's presence
	// pushed (gateway.DefaultPresenceGroupLimit); MaxSessionsPerUser caps a user's sessions per
	// gateway (gateway.DefaultMaxSessionsPerUser).
	PresenceGroupLimit int
	MaxSessionsPerUser int
	// SendRate and SendBurst are the per-user budget of sends, edits and deletes
	// (chat.DefaultSendRate, chat.DefaultSendBurst): one bucket per user for the WebSocket and
	// the HTTP path of this process.
	SendRate  float64
	SendBurst int

	// Web is the browser client, served at / when set (chat-app/web's Handler). The API's and
	// gateway's routes take precedence.
	Web http.Handler

	Logger     *slog.Logger          // (slog.Default())
	Registerer prometheus.Registerer // gateway metrics; nil: not registered anywhere shared
}

// Check is a readiness check of a backend the app depends on.
type Check struct {
	Name    string
	Timeout time.Duration
	Fn      func(ctx context.Context) error
}

// App is an assembled chat server. Mount it with Routes, register Checks with the HTTP server,
// call Shutdown when the server drains and Close after it has stopped.
type App struct {
	Store   chat.Store
	Push    chat.PushStore   // the browsers' Web Push subscriptions, next to Store
	Bus     fanout.Bus       // nil in an API-only process without Redis
	Tokens  *auth.Tokens     //
	Sender  *send.Service    // the send use case both transports call
	API     *api.API         // nil unless Options.API
	Gateway *gateway.Gateway // nil unless Options.Gateway

	web      http.Handler
	presence presence.Tracker // the gateway's, when this process runs one
	checks   []Check
	closers  []func() error
	log      *slog.Logger
}

// Secret returns the configured signing key, or a random one (random=true) when none is set:
// tokens then do not survive a restart and no other process can verify them.
func Secret(configured string) (secret []byte, random bool) {
	if configured != "" {
		return []byte(configured), false
	}
	secret = make([]byte, 32)
	_, _ = rand.Read(secret) // crypto/rand.Read never fails
	return secret, true
}

// New builds the parts o asks for, logging one line per backend that says what it uses and which
// variable switches it. On error everything already opened is closed.
func New(ctx context.Context, o Options) (_ *App, err error) {
	if !o.API && !o.Gateway {
		return nil, errors.New("app: nothing to serve (neither API nor Gateway)")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.TokenTTL == 0 {
		o.TokenTTL = 24 * time.Hour
	}
	a := &App{log: o.Logger, web: o.Web}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	ids, err := snowflake.New(o.NodeID, nil)
	if err != nil {
		return nil, err
	}
	if a.Tokens, err = auth.NewTokens(o.Secret, o.TokenTTL, nil); err != nil {
		return nil, err
	}
	if err := a.openStore(ctx, o, ids); err != nil {
		return nil, err
	}
	rdb, err := a.openBus(o)
	if err != nil {
		return nil, err
	}
	onCreated, err := a.buildNotify(ctx, o, rdb)
	if err != nil {
		return nil, err
	}
	if o.SendRate <= 0 {
		o.SendRate = chat.DefaultSendRate
	}
	if o.SendBurst <= 0 {
		o.SendBurst = chat.DefaultSendBurst
	}
	// One send use case for both transports of this process: one budget per user, one group
	// commit queue per conversation, one set of metrics.
	so := send.Options{Store: a.Store, OnCreated: onCreated, Limit: limit.New[int64](o.SendRate, o.SendBurst, nil),
		Registerer: o.Registerer, Logger: o.Logger}
	if a.Bus != nil {
		so.Publisher = send.BusPublisher{Bus: a.Bus}
	}
	if a.Sender, err = send.New(so); err != nil {
		return nil, err
	}
	if o.Gateway {
		if err := a.buildGateway(o, rdb); err != nil {
			return nil, err
		}
	}
	if o.API {
		var pub api.Publisher
		if a.Bus != nil {
			pub = gateway.Publisher{Bus: a.Bus}
		}
		a.API, err = api.New(api.Options{Store: a.Store, Tokens: a.Tokens, Logger: o.Logger, Publisher: pub, Sender: a.Sender,
			LoginPerMinute: o.LoginPerMinute, LoginBurst: o.LoginBurst, Push: a.Push,
			VAPIDPublicKey: o.VAPIDPublicKey, PushHosts: o.PushHosts})
		if err != nil {
			return nil, err
		}
		switch {
		case o.VAPIDPublicKey == "":
			a.log.Info("web push: off; set VAPID_PUBLIC_KEY (and run chat-notifier with SENDER=webpush) to let browsers subscribe")
		case o.DatabaseURL == "" || o.RedisURL == "":
			a.log.Warn("web push: browsers can subscribe (VAPID_PUBLIC_KEY), but nothing pushes to them: chat-notifier " +
				"(SENDER=webpush) reads the subscriptions from PostgreSQL (DATABASE_URL) and the jobs from Redis (REDIS_URL)")
		default:
			a.log.Info("web push: browsers subscribe with VAPID_PUBLIC_KEY; chat-notifier (SENDER=webpush) delivers")
		}
	}
	return a, nil
}

func (a *App) openStore(ctx context.Context, o Options, ids *snowflake.Generator) error {
	if o.DatabaseURL == "" {
		if o.API {
			a.log.Info("store: in-memory (lost on exit); set DATABASE_URL to keep data in PostgreSQL")
		} else {
			a.log.Warn("store: in-memory; a standalone gateway shares no data with chat-api — run both in one process (chat) or set DATABASE_URL")
		}
		users := memstore.New(ids)
		a.Store, a.Push = users, memstore.NewPushStore(users)
		return nil
	}
	pool, err := pgxpool.New(ctx, o.DatabaseURL)
	if err != nil {
		return fmt.Errorf("DATABASE_URL: %w", err)
	}
	a.closers = append(a.closers, func() error { pool.Close(); return nil })
	a.checks = append(a.checks, Check{Name: "postgres", Timeout: time.Second, Fn: pool.Ping})
	cfg := pool.Config().ConnConfig
	if o.Migrate {
		mctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		applied, err := pgstore.Migrate(mctx, pool)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		a.log.Info("store: postgres (DATABASE_URL)", "host", cfg.Host, "database", cfg.Database, "migrations_applied", applied)
	} else {
		a.log.Info("store: postgres (DATABASE_URL; migrations are chat-api's)", "host", cfg.Host, "database", cfg.Database)
	}
	a.Store, a.Push = pgstore.New(pool, ids), pgstore.NewPushStore(pool)
	return nil
}

// openBus builds the fan-out bus: Redis pub/sub with RedisURL, else in memory when this process
// runs a gateway (an API-only process without Redis has no one to publish to).
func (a *App) openBus(o Options) (*redis.Client, error) {
	if o.RedisURL == "" {
		if !o.Gateway {
			a.log.Info("live feed: off (messages sent over HTTP reach clients on their next sync); set REDIS_URL to publish them to the gateways")
			return nil, nil
		}
		a.log.Info("bus: in-memory (one replica); set REDIS_URL to fan out between replicas")
		mem := fanout.NewMemory()
		a.Bus = mem
		a.closers = append(a.closers, mem.Close)
		return nil, nil
	}
	opt, err := redis.ParseURL(o.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	rdb := redis.NewClient(opt)
	a.closers = append(a.closers, rdb.Close)
	rb, err := redisbus.New(rdb, redisbus.Options{Logger: o.Logger, Prefix: o.KeyPrefix})
	if err != nil {
		return nil, err
	}
	a.Bus = rb
	a.closers = append(a.closers, rb.Close)
	a.checks = append(a.checks, Check{Name: "redis", Timeout: time.Second,
		Fn: func(ctx context.Context) error { return rdb.Ping(ctx).Err() }})
	a.log.Info("bus: redis pub/sub (REDIS_URL)", "addr", opt.Addr)
	return rdb, nil
}

// buildNotify wires offline notifications: every created message goes through a notify.Policy,
// which queues one job per offline member and burst window. Without Redis the queue and a worker
// with the log sender live in this process; with Redis the jobs go to the stream chat-notifier
// consumes. The policy needs presence: the gateway's tracker, or in an API-only process a Redis
// tracker that only reads statuses (the gateways sweep and announce changes).
func (a *App) buildNotify(ctx context.Context, o Options, rdb *redis.Client) (func(context.Context, []chat.Message), error) {
	var status notify.Presence
	switch {
	case rdb != nil && !o.Gateway:
		rt, err := presence.NewRedis(rdb, o.KeyPrefix+presenceKeyPrefix, presence.Options{SweepEvery: -1})
		if err != nil {
			return nil, err
		}
		a.closers = append(a.closers, rt.Close)
		status = rt
	case rdb == nil && !o.Gateway:
		a.log.Info("notifications: off (an API-only process without REDIS_URL cannot see who is offline)")
		return nil, nil
	default:
		// The gateway's tracker does not exist yet; the policy asks it lazily.
		status = lazyPresence{a}
	}
	var queue notify.Queue
	var burst notify.Burst
	if rdb == nil {
		q := notify.NewMemory(notify.QueueOptions{})
		a.closers = append(a.closers, q.Close)
		w, err := notify.NewWorker(notify.WorkerOptions{Queue: q, Sender: notify.LogSender{Logger: o.Logger}, Consumer: "embedded",
			Logger: o.Logger, Registerer: o.Registerer})
		if err != nil {
			return nil, err
		}
		wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		done := make(chan struct{})
		go func() { defer close(done); _ = w.Run(wctx) }()
		a.closers = append(a.closers, func() error { cancel(); <-done; return nil })
		queue, burst = q, notify.NewMemoryBurst(nil)
		a.log.Info("notifications: in-process queue and log sender; set REDIS_URL and run chat-notifier for Web Push")
	} else {
		q, err := notify.NewRedis(ctx, rdb, o.KeyPrefix, notify.QueueOptions{})
		if err != nil {
			return nil, err
		}
		queue, burst = q, notify.NewRedisBurst(rdb, o.KeyPrefix)
		a.log.Info("notifications: redis stream (REDIS_URL), delivered by chat-notifier", "stream", q.Stream())
	}
	p, err := notify.NewPolicy(notify.PolicyOptions{Members: a.Store, Presence: status, Burst: burst, Queue: queue,
		Logger: o.Logger, Registerer: o.Registerer})
	if err != nil {
		return nil, err
	}
	return p.OnCreated, nil
}

// presenceKeyPrefix is where presence lives in Redis (after Options.KeyPrefix), for the gateways
// and the API alike.
const presenceKeyPrefix = "chat:presence:"

// lazyPresence reads the gateway's tracker, built after the notification policy.
type lazyPresence struct{ a *App }

func (l lazyPresence) Statuses(ctx context.Context, users []int64) ([]presence.Status, error) {
	if l.a.presence == nil { // not serving yet: nobody is notified
		out := make([]presence.Status, len(users))
		for i := range out {
			out[i] = presence.Online
		}
		return out, nil
	}
	return l.a.presence.Statuses(ctx, users)
}

func (a *App) buildGateway(o Options, rdb *redis.Client) error {
	announce := gateway.PresenceNotifier(a.Store, a.Bus, o.PresenceGroupLimit, o.Logger)
	var tracker presence.Tracker
	if rdb == nil {
		a.log.Info("presence: in-memory (one replica); set REDIS_URL to share it between replicas")
		mt := presence.NewMemory(presence.Options{Notify: announce})
		tracker = mt
		a.closers = append(a.closers, mt.Close)
	} else {
		rt, err := presence.NewRedis(rdb, o.KeyPrefix+presenceKeyPrefix, presence.Options{Notify: announce})
		if err != nil {
			return err
		}
		tracker = rt
		a.closers = append(a.closers, rt.Close)
		a.log.Info("presence: redis (REDIS_URL)")
	}
	gw, err := gateway.New(gateway.Options{Store: a.Store, Bus: a.Bus, Verifier: Verifier{a.Tokens}, Presence: tracker,
		Logger: o.Logger.With("component", "gateway"), Registerer: o.Registerer, AllowedOrigins: o.AllowedOrigins,
		Sender: a.Sender, PresenceGroupLimit: o.PresenceGroupLimit, MaxSessionsPerUser: o.MaxSessionsPerUser})
	if err != nil {
		return err
	}
	a.Gateway = gw
	a.presence = tracker
	return nil
}

// Routes mounts every part this app serves: the API under /v1, the gateway at /ws and /v1/ws,
// and the web client at / (see MountWeb).
func (a *App) Routes(r chi.Router) {
	if a.API != nil {
		a.API.Routes(r)
	}
	if a.Gateway != nil {
		r.Handle("/ws", a.Gateway)
		r.Handle("/v1/ws", a.Gateway)
	}
	if a.web != nil {
		MountWeb(r, a.web)
	}
}

// MountWeb serves the browser client h for every path no other route claims (chi prefers the
// more specific /v1/..., /ws, /healthz, /readyz and /metrics routes).
func MountWeb(r chi.Router, h http.Handler) {
	r.Handle("/*", h)
}

// Checks are the readiness checks of the external backends (none in memory).
func (a *App) Checks() []Check { return a.checks }

// Shutdown closes every WebSocket with 1001 (going away: reconnect and resync) and waits for the
// sessions to end or ctx. The HTTP server does not drain hijacked connections; this does.
func (a *App) Shutdown(ctx context.Context) error {
	if a.Gateway != nil {
		if err := a.Gateway.Shutdown(ctx); err != nil {
			return err
		}
	}
	// Sends already queued (over either transport) are stored and published before the backends close.
	if err := a.Sender.Wait(ctx); err != nil {
		return fmt.Errorf("shutdown: sends still being stored: %w", err)
	}
	return nil
}

// Serve mounts the app on srv (routes and readiness checks) and runs it until ctx ends; then, in
// parallel, srv drains its HTTP requests and the gateway closes its WebSockets with 1001 (each
// within grace). It does not Close the app.
func (a *App) Serve(ctx context.Context, srv *httpx.Server, grace time.Duration) error {
	for _, c := range a.checks {
		srv.AddCheck(c.Name, c.Timeout, c.Fn)
	}
	a.Routes(srv.Router())
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Run(gctx) })
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), grace)
		defer cancel()
		return a.Shutdown(sctx)
	})
	return g.Wait()
}

// Close releases the backends in the reverse order of opening; call it after the server stopped.
func (a *App) Close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		if err := a.closers[i](); err != nil {
			a.log.Warn("close", "err", err)
		}
	}
	a.closers = nil
}

// Verifier adapts auth.Tokens to gateway.Verifier: an expired token becomes
// gateway.ErrTokenExpired, so the client gets token_expired rather than auth_failed.
type Verifier struct{ Tokens *auth.Tokens }

// Verify implements gateway.Verifier.
func (v Verifier) Verify(token string) (int64, time.Time, error) {
	user, exp, err := v.Tokens.Verify(token)
	if errors.Is(err, auth.ErrExpired) {
		return 0, time.Time{}, fmt.Errorf("%w: %w", gateway.ErrTokenExpired, err)
	}
	return user, exp, err
}
