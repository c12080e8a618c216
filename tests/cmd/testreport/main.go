// Command testreport reads `go test -json` streams on stdin (several, one after another) and
// prints what a person needs: one line per package, the full output of every failed test, the
// reason of every skipped test (a skip usually means a missing service, so it must be loud), and
// one closing line "test: N passed, N failed, N skipped". It exits 1 when anything failed, a
// package did not build, or no test ran at all.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"
)

type event struct {
	Action     string
	Package    string
	ImportPath string // build-output / build-fail events
	Test       string
	Elapsed    float64
	Output     string
}

// exitPrefix marks the line the Makefile prints when a go test command exits non-zero, so a
// failure that leaves no test event (a bad package pattern, a crashed toolchain) still fails.
const exitPrefix = "go test exit status "

type tally struct {
	exits                   []string
	passed, failed, skipped int
	failedPkgs              []string
	skips                   []string
	output                  map[string]*strings.Builder // package/test → output so far
	pkgTests                map[string]int
	pkgSkips                map[string]int
}

func main() {
	t := &tally{output: map[string]*strings.Builder{}, pkgTests: map[string]int{}, pkgSkips: map[string]int{}}
	if err := t.read(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "testreport:", err)
		os.Exit(2)
	}
	os.Exit(t.summary(os.Stdout))
}

func (t *tally) read(r io.Reader, w io.Writer) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			fmt.Fprintf(w, "%s\n", line) // not test2json: the go command's own messages
			if bytes.HasPrefix(line, []byte(exitPrefix)) {
				t.exits = append(t.exits, string(line))
			}
			continue
		}
		t.handle(e, w)
	}
	return sc.Err()
}

func (t *tally) handle(e event, w io.Writer) {
	key := e.Package + "\x00" + e.Test
	switch e.Action {
	case "build-output":
		fmt.Fprint(w, e.Output)
	case "build-fail":
		t.failed++
		t.failedPkgs = append(t.failedPkgs, e.ImportPath+" [build failed]")
	case "output":
		b := t.output[key]
		if b == nil {
			b = &strings.Builder{}
			t.output[key] = b
		}
		b.WriteString(e.Output)
	case "pass", "fail", "skip":
		out := t.output[key]
		delete(t.output, key)
		if e.Test == "" {
			t.packageDone(e, out, w)
			return
		}
		t.pkgTests[e.Package]++
		switch e.Action {
		case "pass":
			t.passed++
		case "skip":
			t.skipped++
			t.pkgSkips[e.Package]++
			t.skips = append(t.skips, fmt.Sprintf("%s %s: %s", short(e.Package), e.Test, skipReason(out)))
		case "fail":
			t.failed++
			fmt.Fprintf(w, "--- FAIL: %s %s (%.2fs)\n%s", short(e.Package), e.Test, e.Elapsed, text(out))
		}
	}
}

func (t *tally) packageDone(e event, out *strings.Builder, w io.Writer) {
	n, s := t.pkgTests[e.Package], t.pkgSkips[e.Package]
	switch e.Action {
	case "fail":
		t.failedPkgs = append(t.failedPkgs, e.Package)
		if n == 0 { // failed before or outside any test (panic in init, TestMain, build): show why
			t.failed++
			fmt.Fprint(w, text(out))
		}
		fmt.Fprintf(w, "FAIL  %-60s %6.1fs\n", short(e.Package), e.Elapsed)
	case "skip":
		fmt.Fprintf(w, "-     %-60s (no test files)\n", short(e.Package))
	default:
		note := fmt.Sprintf("%d tests", n)
		if s > 0 {
			note += fmt.Sprintf(", %d skipped", s)
		}
		fmt.Fprintf(w, "ok    %-60s %6.1fs  %s\n", short(e.Package), e.Elapsed, note)
	}
}

func (t *tally) summary(w io.Writer) int {
	if len(t.skips) > 0 {
		sort.Strings(t.skips)
		fmt.Fprintf(w, "\nSKIPPED (%d) — each names what it needs:\n", len(t.skips))
		for _, s := range t.skips {
			fmt.Fprintln(w, "  "+s)
		}
	}
	if len(t.failedPkgs) > 0 {
		fmt.Fprintf(w, "\nFAILED packages:\n  %s\n", strings.Join(t.failedPkgs, "\n  "))
	}
	fmt.Fprintf(w, "\n%s\ntest: %d passed, %d failed, %d skipped\n", time.Now().Format(time.DateTime), t.passed, t.failed, t.skipped)
	if t.failed > 0 || len(t.failedPkgs) > 0 || len(t.exits) > 0 {
		return 1
	}
	if t.passed == 0 {
		fmt.Fprintln(w, "testreport: no test ran")
		return 1
	}
	return 0
}

// skipReason is the message of the t.Skip call: the last "file.go:N: ..." line of the test's output
// (earlier lines may be logs from libraries the test used).
func skipReason(out *strings.Builder) string {
	reason := "(no reason given)"
	for _, l := range strings.Split(text(out), "\n") {
		if logLine.MatchString(l) {
			reason = strings.TrimSpace(l)
		}
	}
	return reason
}

var logLine = regexp.MustCompile(`^\s+[\w.-]+\.go:\d+: `)

func text(b *strings.Builder) string {
	if b == nil {
		return ""
	}
	return b.String()
}

// short drops the module prefix every package shares.
func short(pkg string) string {
	return strings.TrimPrefix(pkg, "github.com/hyperscaledesignhub/DesignSystems/")
}
