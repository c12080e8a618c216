// Package loadgen is an open-loop load generator: it fires requests at a fixed
// arrival rate, records their latency in HDR histograms, and writes a
// self-contained Markdown + HTML report with charts. Every system's
// `make load-test` scenario is built on [Run] and [WriteReport].
//
// # Open loop versus closed loop
//
// A closed-loop generator (N workers, each sending a request and waiting for the
// answer before sending the next) lets the server set the pace: when the server
// stalls for a second, the workers stall too, the requests that real users would
// have sent during that second are never sent, and the one slow sample hides
// among thousands of fast ones. Gil Tene named this coordinated omission in his
// talk "How NOT to Measure Latency" (Strange Loop 2015; see also his wrk2,
// github.com/giltene/wrk2). The percentiles such a tool reports can be better
// than reality by orders of magnitude, exactly when the system is unhealthy.
//
// Real traffic is open: users arrive whether or not the server is keeping up.
// loadgen therefore schedules request i at start + i/Rate, launches each one on
// its own goroutine at that time (catching up in a burst if the generator itself
// was late), and measures latency from the scheduled time, not from the moment
// the request actually started. A stall then shows up where it belongs: as
// latency of every request that arrived during it. Concurrency is bounded by
// MaxInFlight; arrivals beyond it are counted as dropped rather than delayed,
// because delaying them would reintroduce the omission.
//
// # Measuring beyond the response
//
// Some latencies end elsewhere than at the target's return: a chat message
// published by the target is measured when a receiver reads it. For those,
// [Scheduled] gives the target its request's scheduled time, to stamp into the
// message so that the receiver measures from the schedule too, and
// Config.Start fixes when the schedule begins, so that the receivers know the
// measured window, [Start+Warmup, Start+Warmup+Duration), before the first
// request is sent.
//
// # Histograms
//
// Latencies are recorded in HdrHistogram (github.com/HdrHistogram/hdrhistogram-go)
// in microseconds with 3 significant digits: a fixed-size structure whose
// percentiles are accurate to 0.1% over the whole range, so p99.9 and max are
// exact enough to trust, unlike averages or sampled reservoirs. One histogram
// covers the run and one per second (at 2 digits) feeds the latency-over-time
// chart.
package loadgen
