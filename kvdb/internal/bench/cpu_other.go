//go:build !unix

package bench

import "time"

// cpuTime is not available here; settle then does not wait.
func cpuTime() (time.Duration, bool) { return 0, false }
