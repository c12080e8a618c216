package rules

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Reloader keeps the active Set and replaces it when the files change.
//
// It watches the directory (for a single file, the file's directory) with fsnotify rather than
// the files: editors save by renaming a new file over the old one, and a Kubernetes ConfigMap
// volume updates by swapping its ..data symlink, and either would detach a watch on the file.
// A slow poll of the content hash backs it up for what fsnotify misses (network file systems, a
// directory removed and re-created, a parent symlink swapped). Bursts of events are debounced;
// a reload whose content hash equals the last one seen is skipped. A new Set is swapped in
// atomically only when every file is valid; otherwise the old rules stay active, the error is
// kept for LastError and Status, and logged once per distinct error.
type Reloader struct {
	path     string
	log      *slog.Logger
	debounce time.Duration
	maxDelay time.Duration
	poll     time.Duration
	onChange func(*Set)
	onError  func(error)

	set atomic.Pointer[Set]
	gen atomic.Uint64

	mu         sync.Mutex // guards the fields below, and serialises reloads
	seenHash   string     // of the last content loaded or rejected
	seenErr    error      // why that content was rejected; nil when it loaded
	readFailed bool       // the last attempt could not read the files
	loadedAt   time.Time
	lastErr    error
	lastErrAt  time.Time
	loggedErr  string
	failures   uint64
}

// Options tune a Reloader; the zero value is fine.
type Options struct {
	Logger *slog.Logger // default slog.Default()
	// Debounce is the quiet time after the last file event before reloading (default 100ms);
	// a steady stream of events still reloads every 10×Debounce at the latest.
	Debounce time.Duration
	// Poll is how often the content hash is checked regardless of events (default 10s).
	Poll time.Duration
	// OnChange is called after each successful swap, from the goroutine running Run (or the
	// caller of Reload).
	OnChange func(*Set)
	// OnError is called once per distinct rejection (when it is logged), likewise; for metrics.
	OnError func(error)
}

// NewReloader loads path once and fails if that load fails: a service must not start with
// rules it cannot read.
func NewReloader(path string, opts Options) (*Reloader, error) {
	r := &Reloader{
		path:     path,
		log:      opts.Logger,
		debounce: opts.Debounce,
		poll:     opts.Poll,
		onChange: opts.OnChange,
		onError:  opts.OnError,
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	if r.debounce <= 0 {
		r.debounce = 100 * time.Millisecond
	}
	r.maxDelay = 10 * r.debounce
	if r.poll <= 0 {
		r.poll = 10 * time.Second
	}
	srcs, err := readSources(path)
	if err != nil {
		return nil, err
	}
	set, err := build(srcs)
	if err != nil {
		return nil, err
	}
	r.set.Store(set)
	r.gen.Store(1)
	r.seenHash = set.hash
	r.loadedAt = time.Now()
	r.log.Info("rules loaded", "path", path, "domains", len(set.domains), "rules", set.Len(), "generation", 1)
	return r, nil
}

// Set returns the active rules. Hold on to the result for the whole of one request, so that
// all its descriptors are matched against the same rules.
func (r *Reloader) Set() *Set { return r.set.Load() }

// Generation counts successful loads, starting at 1; it changes exactly when Set does.
func (r *Reloader) Generation() uint64 { return r.gen.Load() }

// LastError is the error of the latest reload attempt, or nil when it succeeded.
func (r *Reloader) LastError() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastErr
}

// Status is the reloader's state as JSON, for GET /v1/rules and metrics.
type Status struct {
	Path        string    `json:"path"`
	Generation  uint64    `json:"generation"`
	Hash        string    `json:"hash"`
	Domains     []string  `json:"domains"`
	Rules       int       `json:"rules"`
	LoadedAt    time.Time `json:"loaded_at"`
	Failures    uint64    `json:"failures"` // distinct rejections since start
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
}

// Status returns the current state.
func (r *Reloader) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	set := r.set.Load()
	st := Status{
		Path:       r.path,
		Generation: r.gen.Load(),
		Hash:       set.Hash(),
		Domains:    set.Domains(),
		Rules:      set.Len(),
		LoadedAt:   r.loadedAt,
		Failures:   r.failures,
	}
	if r.lastErr != nil {
		st.LastError = r.lastErr.Error()
		st.LastErrorAt = r.lastErrAt
	}
	return st
}

// Reload reads the files now and swaps them in if they changed and are valid. It returns the
// error that keeps the files from being active, if any (the old rules then stay active). Run
// calls it; call it directly on SIGHUP or from tests.
func (r *Reloader) Reload() error {
	set, fresh, err := r.reload()
	// Callbacks run outside the lock, so that they may call Status.
	if set != nil && r.onChange != nil {
		r.onChange(set)
	}
	if fresh && r.onError != nil {
		r.onError(err)
	}
	return err
}

// reload returns the new Set if one was swapped in, whether the error is new (logged now), and
// the error keeping the files out.
func (r *Reloader) reload() (*Set, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	srcs, err := readSources(r.path)
	if err != nil {
		r.readFailed = true
		return nil, r.failed(err), err
	}
	wasUnreadable := r.readFailed
	r.readFailed = false
	hash := hashSources(srcs)
	if hash == r.seenHash {
		if wasUnreadable {
			// Readable again after a read error, and unchanged: back to that content's verdict.
			r.lastErr = r.seenErr
			if r.seenErr == nil {
				r.loggedErr = ""
				r.log.Info("rules readable again, unchanged", "path", r.path, "generation", r.gen.Load())
			} else {
				r.loggedErr = r.seenErr.Error()
			}
		}
		return nil, false, r.lastErr
	}
	r.seenHash = hash
	var set *Set
	if len(srcs) == 0 && len(r.set.Load().files) > 0 {
		// Mid-way through rm -rf, or a mistake: dropping every limit at once is not something
		// to do on a file event. An intended "no rules" is a file holding only a domain.
		err = fmt.Errorf("no rules files in %s (to remove every rule, leave a file with only a domain)", r.path)
	} else {
		set, err = build(srcs)
	}
	r.seenErr = err
	if err != nil {
		return nil, r.failed(err), err
	}
	r.set.Store(set)
	gen := r.gen.Add(1)
	r.loadedAt = time.Now()
	r.lastErr, r.loggedErr = nil, ""
	r.log.Info("rules reloaded", "path", r.path, "domains", len(set.domains), "rules", set.Len(), "generation", gen)
	return set, false, nil
}

// failed records a rejected reload and logs it unless it is the error already logged: the
// poll would otherwise repeat the same line every few seconds until someone fixes the files.
func (r *Reloader) failed(err error) bool {
	r.lastErr = err
	msg := err.Error()
	if msg == r.loggedErr {
		return false
	}
	r.loggedErr = msg
	r.failures++
	r.lastErrAt = time.Now()
	r.log.Error("rules rejected, keeping the active rules", "path", r.path, "generation", r.gen.Load(), "error", msg)
	return true
}

// Run watches the files until ctx is done, then returns nil. Run it once, e.g. under errgroup.
func (r *Reloader) Run(ctx context.Context) error {
	dir := r.path
	if fi, err := os.Stat(r.path); err == nil && !fi.IsDir() {
		dir = filepath.Dir(r.path)
	}

	var events <-chan fsnotify.Event
	var werrs <-chan error
	w, err := fsnotify.NewWatcher()
	if err != nil {
		r.log.Warn("rules: no file watcher, polling only", "path", r.path, "poll", r.poll, "error", err)
	} else {
		defer w.Close()
		events, werrs = w.Events, w.Errors
	}
	watching := false
	watch := func() {
		if w == nil || watching {
			return
		}
		if err := w.Add(dir); err != nil {
			r.log.Warn("rules: cannot watch, polling only until it can", "dir", dir, "poll", r.poll, "error", err)
			return
		}
		watching = true
	}
	watch()
	// Catch what changed between NewReloader's load and the watch starting.
	_ = r.Reload()

	poll := time.NewTicker(r.poll)
	defer poll.Stop()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var first time.Time // of the burst being debounced; zero when none is pending

	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if ev.Name == dir && ev.Has(fsnotify.Remove|fsnotify.Rename) {
				watching = false // the directory itself went away; the poll re-adds it
			}
			now := time.Now()
			if first.IsZero() {
				first = now
			}
			timer.Reset(min(r.debounce, first.Add(r.maxDelay).Sub(now)))
		case err, ok := <-werrs:
			if !ok {
				werrs = nil
				continue
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				first = time.Now()
				timer.Reset(r.debounce)
				continue
			}
			r.log.Warn("rules: file watcher error", "dir", dir, "error", err)
		case <-timer.C:
			first = time.Time{}
			_ = r.Reload() // logged and recorded by Reload
		case <-poll.C:
			if !watching {
				watch()
			}
			_ = r.Reload()
		}
	}
}

// StaticRules is a fixed Set with the same Set and Status methods as a Reloader, for the
// built-in rules and for tests.
type StaticRules struct {
	set    *Set
	status Status
}

// Static wraps set; name stands for its path in Status.
func Static(set *Set, name string) *StaticRules {
	return &StaticRules{set: set, status: Status{
		Path:       name,
		Generation: 1,
		Hash:       set.Hash(),
		Domains:    set.Domains(),
		Rules:      set.Len(),
		LoadedAt:   time.Now(),
	}}
}

// Set returns the rules.
func (s *StaticRules) Set() *Set { return s.set }

// Status returns the rules' state; Generation is always 1.
func (s *StaticRules) Status() Status {
	st := s.status
	st.Domains = slices.Clone(st.Domains)
	return st
}
