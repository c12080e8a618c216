package loadgen

import (
	"fmt"
	"time"

	"golang.org/x/term"
)

const (
	// A terminal gets a line redrawn in place; a log file or CI console would
	// fill up with carriage returns, so it gets a plain line now and then.
	terminalEvery = 250 * time.Millisecond
	plainEvery    = 5 * time.Second
)

// startProgress prints the progress line until the returned stop is called,
// which prints the final state and returns once the printer has exited.
func (r *runner) startProgress() (stop func()) {
	w := r.cfg.Progress
	if w == nil {
		return func() {}
	}
	tty := false
	if f, ok := w.(interface{ Fd() uintptr }); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	every := plainEvery
	if tty {
		every = terminalEvery
	}
	show := func(final bool) {
		line := r.progressLine()
		switch {
		case tty && final:
			fmt.Fprintf(w, "\r%s\x1b[K\n", line)
		case tty:
			fmt.Fprintf(w, "\r%s\x1b[K", line)
		default:
			fmt.Fprintln(w, line)
		}
	}

	quit, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-quit:
				show(true)
				return
			case <-tick.C:
				show(false)
			}
		}
	}()
	return func() {
		close(quit)
		<-exited
	}
}

func (r *runner) progressLine() string {
	phase, elapsed, of := "run", time.Since(r.measureStart), r.cfg.Duration
	if elapsed < 0 {
		phase, elapsed, of = "warmup", time.Since(r.start), r.cfg.Warmup
	}
	// Before a future Config.Start, elapsed is negative: show 0 until it comes.
	elapsed = max(min(elapsed, of), 0)

	r.mu.Lock()
	ok, failed := r.ok, r.failed
	p99 := micros(r.hist.ValueAtQuantile(99))
	r.mu.Unlock()

	return fmt.Sprintf("%s %s %.1fs/%.1fs  sent %d  ok %d  failed %d  dropped %d  in-flight %d  p99 %s",
		r.cfg.Name, phase, elapsed.Seconds(), of.Seconds(),
		r.sent.Load(), ok, failed, r.dropped.Load(), r.inFlight.Load(), fmtDuration(p99))
}
