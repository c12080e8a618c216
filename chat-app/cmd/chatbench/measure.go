package main

import (
	"bytes"
	"context"
	"maps"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/hyperscaledesignhub/DesignSystems/shared/loadgen"
)

// collector gathers what every receiver read. Each receiver keeps its own tally (no shared lock
// on the hot path) and hands it over when it stops.
type collector struct {
	// The measured interval [from, to), unix ns: publishes scheduled before from are warm-up;
	// deliveries are counted for throughput when they arrive inside it, and for latency when the
	// message they carry was scheduled inside it. Set by drive while the readers run.
	from, to atomic.Int64

	mu        sync.Mutex
	received  int64   // deliveries whose arrival is in the window (throughput)
	sentIn    int64   // deliveries of messages scheduled in the window (latency samples)
	lat       []int64 // send→receive, ns, of those
	closed    int     // receiver sockets the server closed (e.g. slow consumer)
	live      atomic.Int64
	receivers sync.WaitGroup
}

// tally is one receiver's share.
type tally struct {
	received, sentIn int64
	lat              []int64
}

// record counts one delivery stamped sent (unix ns, the scheduled publish time) that arrived at at.
func (c *collector) record(t *tally, sent, at int64) {
	c.live.Add(1)
	if c.in(at) {
		t.received++
	}
	if c.in(sent) {
		t.sentIn++
		t.lat = append(t.lat, at-sent)
	}
}

func (c *collector) in(ns int64) bool { return ns >= c.from.Load() && ns < c.to.Load() }

func (c *collector) done(t *tally, closedByServer bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.received += t.received
	c.sentIn += t.sentIn
	c.lat = append(c.lat, t.lat...)
	if closedByServer {
		c.closed++
	}
}

// count reads ws on its own goroutine until the socket closes: the one receive loop of both
// systems, so they are measured alike. A WebSocket message may carry several frames, one per
// line; stamp returns the send time a line carries (ok false: not a delivery). closedByServer
// says whether a close status is the server dropping a slow consumer.
func (c *collector) count(ws *websocket.Conn, stamp func(line []byte) (sent int64, ok bool), closedByServer func(websocket.StatusCode) bool) {
	c.receivers.Add(1)
	go func() {
		defer c.receivers.Done()
		t := &tally{}
		for {
			_, b, err := ws.Read(context.Background())
			at := time.Now().UnixNano()
			if err != nil {
				c.done(t, closedByServer(websocket.CloseStatus(err)))
				return
			}
			for line := range bytes.SplitSeq(b, []byte("\n")) {
				if sent, ok := stamp(line); ok {
					c.record(t, sent, at)
				}
			}
		}
	}()
}

// settle waits until the deliveries stop arriving (no new one for 300 ms, at most max).
func (c *collector) settle(ctx context.Context, maxWait time.Duration) {
	deadline := time.Now().Add(maxWait)
	last := int64(-1)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		n := c.live.Load()
		if n == last {
			return
		}
		last = n
		time.Sleep(300 * time.Millisecond)
	}
}

// stamp extracts the decimal number after key in frame (e.g. `"body":"` or `"t":`): both systems
// carry the send time the same way, and neither side pays for a full JSON decode per delivery.
func stamp(frame, key []byte) (int64, bool) {
	i := bytes.Index(frame, key)
	if i < 0 {
		return 0, false
	}
	rest := frame[i+len(key):]
	j := 0
	for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
		j++
	}
	if j == 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(string(rest[:j]), 10, 64)
	return n, err == nil
}

// latency is a summary of the samples in ns.
type latency struct{ p50, p99, p999, max time.Duration }

func summarize(ns []int64) latency {
	if len(ns) == 0 {
		return latency{}
	}
	s := slices.Clone(ns)
	slices.Sort(s)
	at := func(q float64) time.Duration {
		i := int(q*float64(len(s))+0.999999) - 1 // nearest rank
		return time.Duration(s[min(max(i, 0), len(s)-1)])
	}
	return latency{p50: at(0.50), p99: at(0.99), p999: at(0.999), max: time.Duration(s[len(s)-1])}
}

// result is one system's run of the scenario.
type result struct {
	name       string
	detail     string // what it ran on (store, engine)
	receivers  int
	duration   time.Duration
	received   int64 // deliveries arriving in the window
	sentIn     int64 // deliveries of publishes scheduled in the window (after settling)
	closed     int
	lat        latency
	cpuSeconds float64 // of the server process during warm-up+window+settle
	rssMB      float64 // server RSS at the end

	// The publisher's side, from loadgen: of the publishes scheduled in the window (offered),
	// those acknowledged (an ack frame / a 200), those refused, failed or dropped, and the
	// latency from the schedule to that answer.
	offered, published, pubErrors int64
	pubErrorKinds                 map[string]int64
	pubP50, pubP99                time.Duration
	pubMaxLag                     time.Duration // how late loadgen itself sent; it is in every latency
}

// setPublished takes the publisher's side of r from loadgen's result.
func (r *result) setPublished(lr *loadgen.Result) {
	r.offered = lr.Sent + lr.Dropped
	r.published = lr.OK
	r.pubErrors = lr.Failed + lr.Dropped
	r.pubErrorKinds = make(map[string]int64, len(lr.Errors)+1)
	maps.Copy(r.pubErrorKinds, lr.Errors)
	if lr.Dropped > 0 {
		r.pubErrorKinds["dropped"] = lr.Dropped
	}
	r.pubP50, r.pubP99, r.pubMaxLag = lr.Latency.P50, lr.Latency.P99, lr.MaxLag
}

func (r *result) rate() float64 { return float64(r.received) / r.duration.Seconds() }

// expected is deliveries owed for the publishes scheduled in the window.
func (r *result) expected() int64 { return r.offered * int64(r.receivers) }
