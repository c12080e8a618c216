package bench

import (
	"fmt"
	"io"
	"sync/atomic"
	"time"
)

const (
	// A terminal gets its line redrawn in place; a log file or CI console would fill up with
	// carriage returns, so it gets a plain line now and then.
	terminalEvery = 500 * time.Millisecond
	plainEvery    = 5 * time.Second
)

// progress prints, while a phase runs, which engine and workload it is, how far it got and at
// what rate; then one final line per phase.
type progress struct {
	w   io.Writer // nil: silent
	tty bool
}

func newProgress(w io.Writer, inPlace bool) *progress {
	return &progress{w: w, tty: inPlace}
}

func (p *progress) printf(format string, args ...any) {
	if p.w != nil {
		fmt.Fprintf(p.w, format+"\n", args...)
	}
}

// track shows done/total for the phase until the returned stop is called, which prints the
// final line.
// Workers add to done in chunks, not per operation, so that the counter's cache line does not
// bounce between cores in the measured loop.
func (p *progress) track(label string, total int64, done *atomic.Int64) (stop func()) {
	if p.w == nil {
		return func() {}
	}
	start := time.Now()
	line := func() string {
		n := done.Load()
		el := time.Since(start)
		pct := 100.0
		if total > 0 {
			pct = 100 * float64(n) / float64(total)
		}
		return fmt.Sprintf("%-28s %5.1f%%  %d/%d  %s/s  %s", label, pct, n, total,
			fmtRate(float64(n)/max(el.Seconds(), 1e-9)), el.Round(100*time.Millisecond))
	}
	every := plainEvery
	if p.tty {
		every = terminalEvery
	}
	quit, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-quit:
				if p.tty {
					fmt.Fprintf(p.w, "\r%s\x1b[K\n", line())
				} else {
					fmt.Fprintln(p.w, line())
				}
				return
			case <-tick.C:
				if p.tty {
					fmt.Fprintf(p.w, "\r%s\x1b[K", line())
				} else {
					fmt.Fprintln(p.w, line())
				}
			}
		}
	}()
	return func() {
		close(quit)
		<-exited
	}
}
