// Command chat-notifier delivers chat-app's offline notifications: it consumes the job stream
// (<KEY_PREFIX>chat:notify on REDIS_URL) that the gateways' and the API's notify.Policy fill, as
// one consumer of the group "notifier", and hands each job to a sender — a log line (SENDER=log)
// or Web Push with VAPID (SENDER=webpush) to every browser the user registered through chat-api
// (POST /v1/push/subscriptions, kept in PostgreSQL at DATABASE_URL). Failed jobs are retried with
// backoff and dead-lettered to <KEY_PREFIX>chat:notify:dlq after MAX_ATTEMPTS. Ops routes on
// HTTP_ADDR: /healthz, /readyz, /metrics.
//
// Without Redis there is nothing to consume from: the single-process default runs the memory
// queue and a worker in process instead.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/notify"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/pgstore"
	"github.com/hyperscaledesignhub/DesignSystems/shared/boot"
	"github.com/hyperscaledesignhub/DesignSystems/shared/httpx"
)

var version = "dev" // set with -ldflags "-X main.version=..."

// Config is every setting, from the environment.
type Config struct {
	HTTPAddr  string `env:"HTTP_ADDR" envDefault:":8602"`
	RedisURL  string `env:"REDIS_URL"`  // required
	KeyPrefix string `env:"KEY_PREFIX"` // prefix of the stream keys, the same as the gateways' and API's
	// Consumer names this process in the consumer group; default the host name (the pod name).
	Consumer    string        `env:"CONSUMER"`
	Sender      string        `env:"SENDER" envDefault:"log"` // log | webpush
	MaxAttempts int           `env:"MAX_ATTEMPTS" envDefault:"5"`
	Backoff     time.Duration `env:"RETRY_BACKOFF" envDefault:"10s"` // before the first retry, doubled per attempt
	SendTimeout time.Duration `env:"SEND_TIMEOUT" envDefault:"5s"`
	// DatabaseURL is chat-api's PostgreSQL, where the Web Push subscriptions are (SENDER=webpush;
	// the log sender needs no database). Its migrations are chat-api's.
	DatabaseURL string `env:"DATABASE_URL"`
	// VAPID keys (base64url, as from webpush.GenerateVAPIDKeys) and contact, for SENDER=webpush.
	// The public key must be chat-api's VAPID_PUBLIC_KEY: browsers subscribed with it.
	VAPIDPublicKey  string `env:"VAPID_PUBLIC_KEY"`
	VAPIDPrivateKey string `env:"VAPID_PRIVATE_KEY"`
	VAPIDSubject    string `env:"VAPID_SUBJECT"` // mailto:ops@example.com or an https URL
	// PushHosts are the push services it POSTs to; a subscription naming another host is removed.
	// Empty: FCM, Mozilla, Apple and Windows (chat.DefaultPushHosts), as chat-api's PUSH_HOSTS.
	PushHosts       []string      `env:"PUSH_HOSTS"`
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"20s"`
}

// Validate checks what the types cannot.
func (c *Config) Validate() error {
	switch {
	case c.RedisURL == "":
		return errors.New("REDIS_URL is required: the notifier consumes the Redis stream the gateways and the API write " +
			"(the single-process default runs the notifier in process instead)")
	case c.Sender != "log" && c.Sender != "webpush":
		return fmt.Errorf("SENDER must be log or webpush, not %q", c.Sender)
	case c.Sender == "webpush" && (c.VAPIDPublicKey == "" || c.VAPIDPrivateKey == "" || c.VAPIDSubject == ""):
		return errors.New("SENDER=webpush needs VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY and VAPID_SUBJECT " +
			"(generate keys with webpush.GenerateVAPIDKeys or `npx web-push generate-vapid-keys`)")
	case c.Sender == "webpush" && c.DatabaseURL == "":
		return errors.New("SENDER=webpush needs DATABASE_URL: the browsers' subscriptions are in chat-api's PostgreSQL")
	case c.MaxAttempts < 1:
		return errors.New("MAX_ATTEMPTS must be at least 1")
	case c.Backoff <= c.SendTimeout:
		return errors.New("RETRY_BACKOFF must be above SEND_TIMEOUT, or a slow send looks abandoned and is sent twice")
	}
	return nil
}

func main() { boot.Main("chat-notifier", version, "chat-app/README.md", run) }

func run(ctx context.Context, s *boot.Service[Config]) error {
	cfg, logger := s.Config, s.Logger
	consumer := cfg.Consumer
	if consumer == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("CONSUMER not set and no host name: %w", err)
		}
		consumer = h + "-" + strconv.Itoa(os.Getpid())
	}
	opt, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return fmt.Errorf("REDIS_URL: %w", err)
	}
	rdb := redis.NewClient(opt)
	defer func() {
		if err := rdb.Close(); err != nil {
			logger.Warn("close redis", "err", err)
		}
	}()
	q, err := notify.NewRedis(ctx, rdb, cfg.KeyPrefix, notify.QueueOptions{MaxAttempts: cfg.MaxAttempts, Backoff: cfg.Backoff})
	if err != nil {
		return err
	}

	var sender notify.Sender
	var pool *pgxpool.Pool // SENDER=webpush only
	switch cfg.Sender {
	case "webpush":
		if pool, err = pgxpool.New(ctx, cfg.DatabaseURL); err != nil {
			return fmt.Errorf("DATABASE_URL: %w", err)
		}
		defer pool.Close() // after the worker stopped; Redis closes after it
		pc := pool.Config().ConnConfig
		logger.Info("web push subscriptions: postgres (DATABASE_URL)", "host", pc.Host, "database", pc.Database)
		sender, err = notify.NewWebPushSender(notify.WebPushOptions{
			Subscriptions:  notify.PushStoreSubscriptions{Store: pgstore.NewPushStore(pool)},
			VAPIDPublicKey: cfg.VAPIDPublicKey, VAPIDPrivateKey: cfg.VAPIDPrivateKey, Subject: cfg.VAPIDSubject,
			Hosts: cfg.PushHosts, Logger: logger})
		if err != nil {
			return err
		}
	default:
		sender = notify.LogSender{Logger: logger.With("component", "sender")}
	}
	w, err := notify.NewWorker(notify.WorkerOptions{Queue: q, Sender: sender, Consumer: consumer,
		SendTimeout: cfg.SendTimeout, Logger: logger, Registerer: s.Telemetry.Registry})
	if err != nil {
		return err
	}

	srv, err := httpx.New(httpx.Options{Addr: cfg.HTTPAddr, Logger: logger, Telemetry: s.Telemetry,
		ShutdownTimeout: cfg.ShutdownTimeout})
	if err != nil {
		return err
	}
	srv.AddCheck("redis", time.Second, func(ctx context.Context) error { return rdb.Ping(ctx).Err() })
	if pool != nil {
		srv.AddCheck("postgres", time.Second, pool.Ping)
	}

	logger.Info("notifier consuming", "stream", q.Stream(), "group", notify.Group, "consumer", consumer, "sender", cfg.Sender)
	// Shutdown order: the ops server stops being ready and drains, the worker finishes the job
	// in hand, then PostgreSQL and Redis close (deferred above).
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Run(gctx) })
	g.Go(func() error { return w.Run(gctx) })
	if err := g.Wait(); err != nil {
		return err
	}
	logger.Info("stopped")
	return nil
}
