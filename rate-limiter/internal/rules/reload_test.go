package rules

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// logBuffer collects log lines from several goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) count(substr string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Count(b.buf.String(), substr)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func rulesDoc(requests int) string {
	return fmt.Sprintf("domain: api\ndescriptors:\n  - key: user\n    rate_limit: {unit: second, requests_per_unit: %d}\n", requests)
}

// startReloader runs a Reloader on path until the test ends. poll is long by default so that
// the tests see fsnotify at work, not the poll.
func startReloader(t *testing.T, path string, poll time.Duration) (*Reloader, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	r, err := NewReloader(path, Options{
		Logger:   slog.New(slog.NewTextHandler(logs, nil)),
		Debounce: 20 * time.Millisecond,
		Poll:     poll,
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	return r, logs
}

// requestsFor is the limit the reloader's active rules give user=x, or -1 for none.
func requestsFor(r *Reloader) int64 {
	rule, _, ok := r.Set().Match("api", desc("user", "x"))
	if !ok {
		return -1
	}
	return rule.Limit.Requests
}

// atomicWrite replaces path the way editors and kubectl cp do: write aside, rename over.
func atomicWrite(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	require.NoError(t, os.WriteFile(tmp, []byte(content), 0o644))
	require.NoError(t, os.Rename(tmp, path))
}

const soon = 2 * time.Second

func TestReloadPicksUpChanges(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "api.yaml")
	writeFile(t, file, rulesDoc(10))
	r, logs := startReloader(t, dir, time.Minute)
	require.Equal(t, int64(10), requestsFor(r))
	require.Equal(t, uint64(1), r.Generation())

	// In-place write.
	require.NoError(t, os.WriteFile(file, []byte(rulesDoc(20)), 0o644))
	assert.Eventually(t, func() bool { return requestsFor(r) == 20 }, soon, 10*time.Millisecond)
	assert.Equal(t, uint64(2), r.Generation())

	// Editor-style rename over the file.
	atomicWrite(t, file, rulesDoc(30))
	assert.Eventually(t, func() bool { return requestsFor(r) == 30 }, soon, 10*time.Millisecond)
	assert.Equal(t, uint64(3), r.Generation())

	// A new file in the directory.
	writeFile(t, filepath.Join(dir, "web.yaml"), "domain: web\n")
	assert.Eventually(t, func() bool { return len(r.Set().Domains()) == 2 }, soon, 10*time.Millisecond)

	st := r.Status()
	assert.Equal(t, uint64(4), st.Generation)
	assert.Equal(t, []string{"api", "web"}, st.Domains)
	assert.Empty(t, st.LastError)
	assert.Equal(t, r.Set().Hash(), st.Hash)
	assert.Equal(t, 3, logs.count("rules reloaded"))

	// Touching the files without changing them is not a reload.
	now := time.Now()
	require.NoError(t, os.Chtimes(file, now, now))
	time.Sleep(150 * time.Millisecond)
	assert.Equal(t, uint64(4), r.Generation())
}

func TestReloadSingleFile(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "api.yaml")
	writeFile(t, file, rulesDoc(1))
	r, _ := startReloader(t, file, time.Minute)
	atomicWrite(t, file, rulesDoc(2))
	assert.Eventually(t, func() bool { return requestsFor(r) == 2 }, soon, 10*time.Millisecond)
}

func TestReloadKeepsOldRulesOnError(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "api.yaml")
	writeFile(t, file, rulesDoc(10))
	// A fast poll, to check that it does not repeat the error line.
	r, logs := startReloader(t, dir, 30*time.Millisecond)
	old := r.Set()

	atomicWrite(t, file, "domain: api\ndescriptors:\n  - key: user\n    rate_limit: {unit: fortnight, requests_per_unit: 10}\n")
	assert.Eventually(t, func() bool { return r.LastError() != nil }, soon, 10*time.Millisecond)
	assert.Contains(t, r.LastError().Error(), file+`:4: descriptors[0].rate_limit.unit: "fortnight" is not a unit`)
	assert.Same(t, old, r.Set(), "the old rules stay active")
	assert.Equal(t, int64(10), requestsFor(r))
	assert.Equal(t, uint64(1), r.Generation())

	time.Sleep(200 * time.Millisecond) // several polls
	assert.Equal(t, 1, logs.count("rules rejected"), "one line per distinct error:\n%s", logs)
	st := r.Status()
	assert.Contains(t, st.LastError, "fortnight")
	assert.False(t, st.LastErrorAt.IsZero())
	assert.Equal(t, uint64(1), st.Failures)

	// A different error is a new line.
	atomicWrite(t, file, "domain: api\ndescriptors: [\n")
	assert.Eventually(t, func() bool { return logs.count("rules rejected") == 2 }, soon, 10*time.Millisecond)
	assert.Contains(t, r.LastError().Error(), file+":")
	assert.Contains(t, r.LastError().Error(), "yaml:")

	// Fixed: swapped in, error cleared.
	atomicWrite(t, file, rulesDoc(40))
	assert.Eventually(t, func() bool { return requestsFor(r) == 40 }, soon, 10*time.Millisecond)
	assert.NoError(t, r.LastError())
	assert.Equal(t, uint64(2), r.Generation())
	assert.Equal(t, uint64(2), r.Status().Failures)
}

func TestReloadDirectoryRemovedAndBack(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	dir := filepath.Join(root, "config")
	writeFile(t, filepath.Join(dir, "api.yaml"), rulesDoc(10))
	r, logs := startReloader(t, dir, 50*time.Millisecond)

	// Removing the files first, then the directory: neither the empty directory nor the
	// missing one replaces the rules.
	require.NoError(t, os.Remove(filepath.Join(dir, "api.yaml")))
	assert.Eventually(t, func() bool { return r.LastError() != nil }, soon, 10*time.Millisecond)
	assert.Contains(t, r.LastError().Error(), "no rules files in "+dir)
	assert.Equal(t, int64(10), requestsFor(r), "an empty directory keeps the old rules")
	require.NoError(t, os.Remove(dir))
	assert.Eventually(t, func() bool { return strings.Contains(fmt.Sprint(r.LastError()), "no such file") }, soon, 10*time.Millisecond)
	assert.Equal(t, int64(10), requestsFor(r), "unreadable rules keep the old ones")
	time.Sleep(200 * time.Millisecond) // a few polls, each failing the same way

	writeFile(t, filepath.Join(dir, "api.yaml"), rulesDoc(11))
	assert.Eventually(t, func() bool { return requestsFor(r) == 11 }, soon, 10*time.Millisecond)
	assert.NoError(t, r.LastError())
	assert.Equal(t, 2, logs.count("rules rejected"), "one line per distinct error, however many polls:\n%s", logs)

	// Watched again after the poll re-added the directory: a change shows up without polling
	// too (the poll is fast here, so this only checks nothing broke).
	atomicWrite(t, filepath.Join(dir, "api.yaml"), rulesDoc(12))
	assert.Eventually(t, func() bool { return requestsFor(r) == 12 }, soon, 10*time.Millisecond)
}

// configMapDir lays out dir as the kubelet does for a ConfigMap volume:
//
//	dir/..2024_01_01_00_00_00.1/api.yaml
//	dir/..data -> ..2024_01_01_00_00_00.1
//	dir/api.yaml -> ..data/api.yaml
//
// and returns a function that publishes a new version by swapping ..data.
func configMapDir(t *testing.T, dir, content string) func(content string) {
	t.Helper()
	version := 0
	publish := func(content string) {
		version++
		ts := fmt.Sprintf("..2024_01_01_00_00_%02d.%d", version, version)
		writeFile(t, filepath.Join(dir, ts, "api.yaml"), content)
		tmp := filepath.Join(dir, "..data_tmp")
		require.NoError(t, os.Symlink(ts, tmp))
		old, _ := os.Readlink(filepath.Join(dir, "..data"))
		require.NoError(t, os.Rename(tmp, filepath.Join(dir, "..data")))
		if old != "" {
			require.NoError(t, os.RemoveAll(filepath.Join(dir, old)))
		}
	}
	publish(content)
	require.NoError(t, os.Symlink(filepath.Join("..data", "api.yaml"), filepath.Join(dir, "api.yaml")))
	return publish
}

func TestReloadConfigMapSymlinkSwap(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	publish := configMapDir(t, dir, rulesDoc(10))
	r, _ := startReloader(t, dir, time.Minute) // fsnotify only
	require.Equal(t, int64(10), requestsFor(r))
	require.Equal(t, []string{filepath.Join(dir, "api.yaml")}, r.Set().Files(), "..data and ..<timestamp> are skipped")

	publish(rulesDoc(20))
	assert.Eventually(t, func() bool { return requestsFor(r) == 20 }, soon, 10*time.Millisecond)
	publish(rulesDoc(30))
	assert.Eventually(t, func() bool { return requestsFor(r) == 30 }, soon, 10*time.Millisecond)
}

// goruntime's layout: RUNTIME_ROOT is a symlink swapped to a new directory. The watch is on the
// old target and sees nothing; the poll catches it.
func TestReloadPollCatchesRootSymlinkSwap(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "v1", "api.yaml"), rulesDoc(10))
	writeFile(t, filepath.Join(root, "v2", "api.yaml"), rulesDoc(20))
	current := filepath.Join(root, "current")
	require.NoError(t, os.Symlink("v1", current))
	r, _ := startReloader(t, current, 100*time.Millisecond)

	require.NoError(t, os.Symlink("v2", current+".tmp"))
	require.NoError(t, os.Rename(current+".tmp", current))
	assert.Eventually(t, func() bool { return requestsFor(r) == 20 }, soon, 10*time.Millisecond)
}

func TestReloaderOnChange(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "api.yaml")
	writeFile(t, file, rulesDoc(1))
	var r *Reloader
	seen := make(chan uint64, 4)
	r, err := NewReloader(file, Options{
		Logger:   slog.New(slog.DiscardHandler),
		OnChange: func(s *Set) { seen <- r.Status().Generation }, // may call back into r
	})
	require.NoError(t, err)
	atomicWrite(t, file, rulesDoc(2))
	require.NoError(t, r.Reload())
	assert.Equal(t, uint64(2), <-seen)
	require.NoError(t, r.Reload(), "unchanged: nothing to do")
	assert.Empty(t, seen)
}

func TestReloaderOnErrorAndRecovery(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "api.yaml")
	writeFile(t, file, rulesDoc(1))
	var errs []error
	r, err := NewReloader(dir, Options{Logger: slog.New(slog.DiscardHandler), OnError: func(err error) { errs = append(errs, err) }})
	require.NoError(t, err)

	// Broken content: one OnError, however often it is retried.
	writeFile(t, file, "domain: api\nbogus: 1\n")
	for range 3 {
		require.Error(t, r.Reload())
	}
	require.Len(t, errs, 1)
	assert.Contains(t, errs[0].Error(), ":2: bogus: unknown field")

	// Unreadable, then readable again with the same broken content: the error is the content's
	// again, not the stale read error, and is not reported twice.
	require.NoError(t, os.Rename(dir, dir+".away"))
	require.ErrorIs(t, r.Reload(), os.ErrNotExist)
	require.NoError(t, os.Rename(dir+".away", dir))
	err = r.Reload()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "bogus")
	assert.Equal(t, err, r.LastError())
	require.Len(t, errs, 2, "the read error was new; the content's error was already reported")

	// Fixed.
	writeFile(t, file, rulesDoc(2))
	require.NoError(t, r.Reload())
	assert.Equal(t, uint64(2), r.Generation())

	// Unreadable, then readable again and unchanged: no error, same generation.
	require.NoError(t, os.Rename(dir, dir+".away"))
	require.Error(t, r.Reload())
	require.NoError(t, os.Rename(dir+".away", dir))
	require.NoError(t, r.Reload())
	require.NoError(t, r.LastError())
	assert.Equal(t, uint64(2), r.Generation())
	assert.Len(t, errs, 3)
}

func TestStatic(t *testing.T) {
	t.Parallel()
	s := mustParse(t, keysDoc)
	st := Static(s, "built-in")
	assert.Same(t, s, st.Set())
	status := st.Status()
	assert.Equal(t, "built-in", status.Path)
	assert.Equal(t, uint64(1), status.Generation)
	assert.Equal(t, []string{"api"}, status.Domains)
	assert.Equal(t, 2, status.Rules)
	status.Domains[0] = "changed"
	assert.Equal(t, []string{"api"}, st.Status().Domains)
}

func TestNewReloaderFailsOnBadRules(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "api.yaml")
	writeFile(t, file, "domain: api\nbogus: 1\n")
	_, err := NewReloader(file, Options{Logger: slog.New(slog.DiscardHandler)})
	require.Error(t, err)
	assert.Equal(t, file+":2: bogus: unknown field (want domain, descriptors)", err.Error())
}

// Not parallel: it inspects every goroutine of the test binary.
func TestReloaderStopsCleanly(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "api.yaml"), rulesDoc(1))
	r, err := NewReloader(dir, Options{Logger: slog.New(slog.DiscardHandler), Debounce: 10 * time.Millisecond, Poll: 20 * time.Millisecond})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()

	require.Eventually(t, func() bool { return leaked() != "" }, soon, 5*time.Millisecond, "Run and its watcher should be running")
	atomicWrite(t, filepath.Join(dir, "api.yaml"), rulesDoc(2)) // a debounce timer in flight
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(soon):
		t.Fatal("Run did not return after cancel")
	}
	assert.Eventually(t, func() bool { return leaked() == "" }, soon, 10*time.Millisecond, "leaked goroutines:\n%s", leaked())
}

// leaked returns the stacks of goroutines in the reloader or fsnotify.
func leaked() string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "rules.(*Reloader).Run") || strings.Contains(g, "fsnotify") {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}
