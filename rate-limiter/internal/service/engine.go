// Package service is the rate limiter's decision engine: it matches a request's descriptors to
// rules, asks the store, and applies what the store alone cannot — shadow mode, the over-limit
// cache, a circuit breaker, and each rule's failure mode (open, closed, a local limiter at
// limit/replicas, or an error for the caller to decide) when the store fails. The gRPC and HTTP
// APIs, the proxy and the embedded client all decide through one Engine.
//
// Only a store failure — an error reply, a request sent and not answered within the store's
// deadline, a lost connection — or the open breaker starts a failure mode. A store that refuses
// a request unsent because this process is busy (limit.ErrOverloaded), and a caller that gives up
// before its request is sent, get an error instead: neither says anything about the store, and
// neither may turn into an uncounted admission.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/limit"
	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/memstore"
	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/rules"
)

// Code is a descriptor's verdict, as envoy's RateLimitResponse.Code.
type Code int

// The verdicts.
const (
	OK Code = iota + 1
	OverLimit
)

func (c Code) String() string {
	if c == OverLimit {
		return "OVER_LIMIT"
	}
	return "OK"
}

// Descriptor is one descriptor of a request: its entries and its cost (0 means the request's).
type Descriptor struct {
	Entries []rules.Entry
	Hits    int64
}

// Status is the verdict for one descriptor.
type Status struct {
	Code     Code
	Rule     *rules.Rule    // nil when no rule applies (then Code is OK)
	Key      string         // the limiter key ("" without a rule)
	Decision limit.Decision // the store's answer (zero without a rule or for unlimited rules)
	// Shadow is set when the rule is in shadow mode and the store said no: the caller is admitted
	// (Code OK) but the denial is counted, so a new rule can be watched before it is enforced.
	Shadow bool
	// FailureMode is the failure mode that decided instead of the store (the rule's, or the
	// engine's default when the rule names none); "" when the store decided.
	FailureMode rules.FailureMode
	Cached      bool // decided by the over-limit cache, without the store
}

// Options configure an Engine.
type Options struct {
	Store limit.Store // where limits are counted: Redis (shared by replicas) or memory
	// Shared marks a store other processes share over the network (Redis). Only then do the
	// deadline, breaker, failure modes and over-limit cache apply: a local store cannot be down.
	Shared   bool
	Rules    func() *rules.Set // the active rules (hot-reloaded by the caller)
	Replicas int               // failure_mode local enforces limit/Replicas per process (default 1)
	// Local is the in-memory store failure_mode local decides with; the engine closes it. Nil: a
	// memstore with the default key cap.
	Local *memstore.Store
	// DefaultFailureMode applies to rules that name no failure_mode (default open). The store
	// owns the deadline that decides when it has failed (redisstore.Options.Timeout).
	DefaultFailureMode rules.FailureMode
	// BreakerThreshold consecutive store failures open the breaker for BreakerCooldown
	// (defaults 5 and 250ms: short, so the service is back within a second of Redis even if a probe
	// lands just before Redis does).
	BreakerThreshold int
	BreakerCooldown  time.Duration
	DisableCache     bool // turn the over-limit cache off (for measuring it)
	Registry         prometheus.Registerer
	Logger           *slog.Logger
	Now              func() time.Time
}

// Engine decides. Safe for concurrent use.
type Engine struct {
	o       Options
	local   *memstore.Store // failure_mode local
	cache   *overLimitCache // nil unless the store is shared
	breaker *breaker
	m       *metrics
	stop    chan struct{}
}

// New builds an engine; Close stops its background work (not the store, which the caller owns).
func New(o Options) (*Engine, error) {
	if o.Store == nil || o.Rules == nil {
		return nil, errors.New("service: Store and Rules are required")
	}
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.DefaultFailureMode == "" {
		o.DefaultFailureMode = rules.FailOpen
	}
	if !slices.Contains(rules.FailureModes, o.DefaultFailureMode) {
		return nil, fmt.Errorf("service: default failure mode %q is not one of %v", o.DefaultFailureMode, rules.FailureModes)
	}
	if o.BreakerThreshold <= 0 {
		o.BreakerThreshold = 5
	}
	if o.BreakerCooldown <= 0 {
		o.BreakerCooldown = 250 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
	}
	m, err := newMetrics(o.Registry)
	if err != nil {
		return nil, err
	}
	if o.Local == nil {
		o.Local = memstore.New(limit.SystemClock{})
	}
	e := &Engine{o: o, m: m, local: o.Local, stop: make(chan struct{})}
	e.breaker = newBreaker(o.BreakerThreshold, o.BreakerCooldown, o.Now, e.breakerChanged)
	if o.Shared && !o.DisableCache {
		e.cache = newOverLimitCache()
		go e.sweepCache()
	}
	return e, nil
}

// Close stops the engine's background work.
func (e *Engine) Close() error {
	close(e.stop)
	return e.local.Close()
}

// FailureMode is the failure mode that applies to a rule whose own is m ("" when it names none).
func (e *Engine) FailureMode(m rules.FailureMode) rules.FailureMode {
	if m == "" {
		return e.o.DefaultFailureMode
	}
	return m
}

// StoreHealthy reports whether the breaker is closed (for /readyz and the gRPC health service).
func (e *Engine) StoreHealthy() bool { return !e.breaker.isOpen() }

// Check decides every descriptor of one request. hits is the request's default cost (envoy's
// hits_addend; 0 means 1). The overall code is OverLimit when any descriptor is.
func (e *Engine) Check(ctx context.Context, domain string, descs []Descriptor, hits int64) (Code, []Status, error) {
	if domain == "" {
		return 0, nil, fmt.Errorf("%w: domain is required", limit.ErrInvalid)
	}
	entries := make([][]rules.Entry, len(descs))
	for i, d := range descs {
		if len(d.Entries) == 0 {
			return 0, nil, fmt.Errorf("%w: descriptor %d has no entries", limit.ErrInvalid, i)
		}
		entries[i] = d.Entries
	}
	set := e.o.Rules()
	matched := set.MatchAll(domain, entries)
	statuses := make([]Status, len(descs))
	var reqs []limit.Request
	var pending []int // statuses[pending[j]] waits for reqs[j]
	now := e.o.Now()
	for i, mr := range matched {
		st := &statuses[i]
		st.Code, st.Rule, st.Key = OK, mr.Rule, mr.Key
		r := mr.Rule
		switch {
		case r == nil || r.Unlimited:
			continue
		case r.DenyAll:
			st.Decision = limit.Decision{Limit: 0}
			continue
		}
		req := limit.Request{Key: mr.Key, Limit: r.Limit, Hits: cost(descs[i].Hits, hits)}
		if e.cache != nil && r.Limit.Algorithm != limit.Concurrency {
			if until, ok := e.cache.deniedUntil(req.Key, req.Cost(), now); ok {
				st.Cached = true
				st.Decision = limit.Decision{Limit: r.Limit.Requests, RetryAfter: until.Sub(now), ResetAfter: until.Sub(now)}
				e.m.cacheHits.Inc()
				continue
			}
		}
		reqs = append(reqs, req)
		pending = append(pending, i)
	}
	if len(reqs) > 0 {
		decisions, err := e.decide(ctx, reqs)
		var failed *storeFailure
		if err != nil && !errors.As(err, &failed) {
			return 0, nil, err // invalid, overloaded, or the caller gave up: no failure mode
		}
		if failed != nil {
			if err := e.failWithError(pending, statuses, failed); err != nil {
				return 0, nil, err
			}
		}
		for j, i := range pending {
			st := &statuses[i]
			if failed != nil {
				st.FailureMode = e.FailureMode(st.Rule.FailureMode)
				st.Decision = e.fallback(ctx, st.FailureMode, st.Rule, reqs[j])
				e.m.failureMode.WithLabelValues(string(st.FailureMode)).Inc()
				continue
			}
			st.Decision = decisions[j]
			if !st.Decision.Allowed && e.cache != nil && st.Rule.Limit.Algorithm != limit.Concurrency && st.Decision.RetryAfter > 0 {
				e.cache.remember(reqs[j].Key, reqs[j].Cost(), now.Add(st.Decision.RetryAfter))
			}
		}
	}
	// Domains come from callers; only the rules' own domains become metric labels, so a client
	// cannot create unbounded series.
	label := domain
	if !set.HasDomain(domain) {
		label = unknownDomain
	}
	overall := OK
	for i := range statuses {
		st := &statuses[i]
		denied := st.Rule != nil && !st.Rule.Unlimited && !st.Decision.Allowed
		if denied && st.Rule.ShadowMode {
			st.Shadow = true
		} else if denied {
			st.Code, overall = OverLimit, OverLimit
		}
		e.count(label, st)
	}
	return overall, statuses, nil
}

// failWithError returns ErrUnavailable when a rule of the pending descriptors fails with mode
// error: then the whole request is answered with an error, as envoy ratelimit answers when Redis
// fails, and the caller's own policy (Envoy's failure_mode_deny) decides.
func (e *Engine) failWithError(pending []int, statuses []Status, failed *storeFailure) error {
	n := 0
	for _, i := range pending {
		if e.FailureMode(statuses[i].Rule.FailureMode) == rules.FailError {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	e.m.failureMode.WithLabelValues(string(rules.FailError)).Add(float64(n))
	return fmt.Errorf("%w: %v", ErrUnavailable, failed.err)
}

// Release returns a concurrency lease. Errors are returned, not hidden: the lease then expires
// on its own after the rule's period.
func (e *Engine) Release(ctx context.Context, key, lease string) error {
	if err := e.o.Store.Release(ctx, key, lease); err != nil {
		return err
	}
	return e.local.Release(ctx, key, lease) // a lease granted by the fallback lives here
}

// decide asks the store, under the breaker when the store is shared. A store failure comes
// back as a *storeFailure; any other error is the request's or the caller's.
func (e *Engine) decide(ctx context.Context, reqs []limit.Request) ([]limit.Decision, error) {
	if !e.o.Shared {
		return e.o.Store.AllowBatch(ctx, reqs)
	}
	if !e.breaker.allow() {
		return nil, &storeFailure{errBreakerOpen}
	}
	start := time.Now()
	ds, err := e.o.Store.AllowBatch(ctx, reqs)
	switch {
	case err == nil:
		e.m.storeDuration.Observe(time.Since(start).Seconds())
		e.breaker.done(nil)
		return ds, nil
	case errors.Is(err, limit.ErrInvalid), errors.Is(err, limit.ErrOverloaded), callerGone(ctx, err):
		// Nothing was learned about the store: not a failure, and a half-open probe goes again.
		e.breaker.release()
		return nil, err
	}
	e.m.storeDuration.Observe(time.Since(start).Seconds())
	e.breaker.done(err)
	e.m.storeErrors.Inc()
	return nil, &storeFailure{err}
}

// callerGone reports an error that is the caller's own context ending (a deadline, a client
// that went away), not the store's.
func callerGone(ctx context.Context, err error) bool {
	return ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded))
}

// storeFailure is a shared store that failed to decide: an error reply, no reply within its
// deadline, a lost connection, or the open breaker. Only this starts a failure mode.
type storeFailure struct{ err error }

func (f *storeFailure) Error() string { return "rate-limit store failed: " + f.err.Error() }
func (f *storeFailure) Unwrap() error { return f.err }

// ErrUnavailable is returned for a request whose rule's failure mode is error when the store
// failed: the APIs answer gRPC UNAVAILABLE / HTTP 503, and the caller's own policy decides.
var ErrUnavailable = errors.New("rate-limit store unavailable")

// unknownDomain labels decisions for a domain no rule names.
const unknownDomain = "_unknown"

var errBreakerOpen = errors.New("store circuit breaker open")

// fallback decides a request when the store could not, as failure mode m says.
func (e *Engine) fallback(ctx context.Context, m rules.FailureMode, r *rules.Rule, req limit.Request) limit.Decision {
	switch m {
	case rules.FailClosed:
		return limit.Decision{Limit: r.Limit.Requests, RetryAfter: e.o.BreakerCooldown}
	case rules.FailLocal:
		// Each of Replicas processes enforces its share, so together they stay near the limit.
		l := req.Limit
		l.Requests = max(1, l.Requests/int64(e.o.Replicas))
		if l.Burst > 0 {
			l.Burst = max(1, l.Burst/int64(e.o.Replicas))
		}
		req.Limit = l
		d, err := e.local.Allow(ctx, req)
		if err == nil {
			return d
		}
		e.o.Logger.ErrorContext(ctx, "local fallback limiter failed; admitting", "key", req.Key, "err", err)
	}
	return limit.Decision{Allowed: true, Limit: r.Limit.Requests, Remaining: r.Limit.Requests}
}

func (e *Engine) breakerChanged(open bool) {
	if open {
		e.m.breakerOpen.Set(1)
		e.o.Logger.Warn("rate-limit store unavailable: deciding by each rule's failure_mode until it answers again",
			"cooldown", e.o.BreakerCooldown.String())
		return
	}
	e.m.breakerOpen.Set(0)
	e.o.Logger.Info("rate-limit store answers again: failure modes off")
}

func (e *Engine) sweepCache() {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-t.C:
			e.cache.sweep(e.o.Now())
		}
	}
}

func (e *Engine) count(domain string, st *Status) {
	outcome, rule := "no_rule", ""
	if st.Rule != nil {
		rule = st.Rule.Path
		if st.Rule.Name != "" {
			rule = st.Rule.Name
		}
		switch {
		case st.Rule.Unlimited:
			outcome = "unlimited"
		case st.Shadow:
			outcome = "shadow_over_limit"
		case st.Code == OverLimit:
			outcome = "over_limit"
		default:
			outcome = "ok"
		}
	}
	e.m.decision(domain, rule, outcome).Inc()
}

func cost(descHits, reqHits int64) int64 {
	if descHits > 0 {
		return descHits
	}
	return reqHits
}
