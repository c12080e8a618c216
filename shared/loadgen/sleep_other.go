//go:build !linux

package loadgen

import "time"

// preciseSleep: outside Linux the runtime's timers are precise to well below
// a millisecond (kqueue and Windows high-resolution timers take nanoseconds).
func preciseSleep(d time.Duration) { time.Sleep(d) }
