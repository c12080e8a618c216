package gateway

import (
	"sync"
	"time"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/protocol"
)

// outFrame is one encoded server frame waiting for the connection's writer.
type outFrame struct {
	b       []byte
	typ     protocol.FrameType
	created time.Time // message frames: when the store committed it (delivery latency); else zero
	stored  bool      // a message frame read from the store (sync, hole fill), not from the bus
}

// sendQueue is a connection's bounded send queue, drained by one writer goroutine.
//
// Two kinds of producers use it. Live frames (fan-out, acks, typing, presence) call push, which
// never blocks: when the queue is full the client is a slow consumer and gets closed (4008), so
// one slow socket never slows the fan-out for everybody. The sync stream calls pushWait, which
// waits until the queue is at most half full: a large gap is streamed with back-pressure, and it
// leaves the other half of the queue to live frames so a resync does not by itself trip 4008.
type sendQueue struct {
	mu     sync.Mutex
	items  []outFrame
	limit  int
	closed bool
	ready  chan struct{} // capacity 1: wakes the writer
	space  chan struct{} // capacity 1: wakes a pushWait waiting for room
}

func newSendQueue(limit int) *sendQueue {
	return &sendQueue{limit: limit, ready: make(chan struct{}, 1), space: make(chan struct{}, 1)}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// push appends f unless the queue is full or closed; false means the consumer is too slow.
func (q *sendQueue) push(f outFrame) bool {
	q.mu.Lock()
	if q.closed || len(q.items) >= q.limit {
		q.mu.Unlock()
		return false
	}
	q.items = append(q.items, f)
	q.mu.Unlock()
	signal(q.ready)
	return true
}

// pushWait appends f once the queue is at most half full; false when done closes first.
func (q *sendQueue) pushWait(done <-chan struct{}, f outFrame) bool {
	for {
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return false
		}
		if len(q.items) < max(q.limit/2, 1) {
			q.items = append(q.items, f)
			q.mu.Unlock()
			signal(q.ready)
			return true
		}
		q.mu.Unlock()
		select {
		case <-q.space:
		case <-done:
			return false
		}
	}
}

// take moves every queued frame into buf (reused by the writer) and returns it.
func (q *sendQueue) take(buf []outFrame) []outFrame {
	q.mu.Lock()
	buf = append(buf[:0], q.items...)
	clear(q.items)
	q.items = q.items[:0]
	q.mu.Unlock()
	if len(buf) > 0 {
		signal(q.space)
	}
	return buf
}

// close makes every later push fail.
func (q *sendQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.items = nil
	q.mu.Unlock()
	signal(q.space)
}
