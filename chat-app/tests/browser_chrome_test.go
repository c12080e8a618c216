package tests

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/shared/testkit"
)

// stepTimeout bounds one wait for a DOM condition; the poll returns as soon as it holds.
const stepTimeout = 20 * time.Second

// newBrowser starts headless Debian Chromium (testkit.Chromium skips or fails per the repo's
// absent-backend policy) and returns the context of its first tab, which owns the browser.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(testkit.Chromium(t)),
		chromedp.NoSandbox,
		chromedp.Headless,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.WindowSize(1100, 720),
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(cancel)
	// The first Run starts the browser, which lives as long as ctx: no timeout on it.
	require.NoError(t, chromedp.Do(ctx), "start Chromium")
	return ctx
}

// user is one person's tab in its own browser context (separate cookies and sessionStorage).
type user struct {
	t    *testing.T
	name string
	ctx  context.Context
}

func newUser(t *testing.T, browser context.Context, name string) *user {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	// The first Run opens the tab; a timeout here would close it.
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(1100, 720)), "start the tab of %s", name)
	return &user{t: t, name: name, ctx: ctx}
}

// do runs steps with the step timeout.
func (u *user) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.ctx, stepTimeout)
	defer cancel()
	require.NoError(u.t, chromedp.Do(ctx, steps...), "%s: %s", u.name, what)
}

// waitFor polls a JavaScript predicate until it is truthy; an exception (an element not there
// yet) counts as false.
func (u *user) waitFor(what, js string) {
	u.t.Helper()
	guarded := "(() => { try { return !!(" + js + "); } catch (e) { return false; } })()"
	ctx, cancel := context.WithTimeout(u.ctx, stepTimeout+5*time.Second)
	defer cancel()
	var err error
	for end := time.Now().Add(stepTimeout); ; {
		_, err = chromedp.Run(ctx, chromedp.Poll[chromedp.Void](guarded, chromedp.WithPollingInterval(50*time.Millisecond),
			chromedp.WithPollingTimeout(time.Until(end))))
		// A navigation replaces the page's JavaScript context under a poll started just before
		// it; poll again in the new page.
		if err == nil || !strings.Contains(err.Error(), "Cannot find context with specified id") || time.Now().After(end) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		html, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("app-view").outerHTML`))
		u.t.Fatalf("%s: waiting for %s (%s): %v\nDOM: %s", u.name, what, js, err, html)
	}
}

// eval returns the value of a JavaScript expression.
func eval[T any](u *user, js string) T {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	require.NoError(u.t, err, "%s: eval %s", u.name, js)
	return v
}

// screenshot saves a PNG of the tab under dir and, when ARTIFACTS_DIR is set, copies it there.
func (u *user) screenshot(dir, name string) string {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.ctx, stepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	require.NoError(u.t, err, "%s: screenshot", u.name)
	path := filepath.Join(dir, name)
	require.NoError(u.t, os.WriteFile(path, png, 0o644))
	if out := os.Getenv("ARTIFACTS_DIR"); out != "" {
		require.NoError(u.t, os.MkdirAll(out, 0o755))
		copyPath := filepath.Join(out, name)
		require.NoError(u.t, os.WriteFile(copyPath, png, 0o644))
		u.t.Logf("screenshot of %s: %s (copy: %s)", u.name, path, copyPath)
	} else {
		u.t.Logf("screenshot of %s: %s", u.name, path)
	}
	return path
}

// js quotes s as a JavaScript string literal.
func js(s string) string { return strconv.Quote(s) }

// sel builds a document.querySelector expression.
func sel(css string) string { return fmt.Sprintf("document.querySelector(%s)", js(css)) }
