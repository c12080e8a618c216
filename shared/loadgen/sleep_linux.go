//go:build linux

package loadgen

import (
	"syscall"
	"time"
)

// preciseSleep sleeps for about d using the kernel's high-resolution timers
// (overshoot ~60µs). The Go runtime's own timers wake a Linux program through
// epoll_wait, whose timeout is whole milliseconds, so a 50µs time.Sleep takes
// about 1ms, and that error would be added to every latency the generator
// measures from the schedule. The syscall releases the P like any other.
func preciseSleep(d time.Duration) {
	ts := syscall.NsecToTimespec(int64(d))
	// EINTR only ends the sleep early; the caller checks the clock again.
	_ = syscall.Nanosleep(&ts, nil)
}
