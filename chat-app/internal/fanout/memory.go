package fanout

import (
	"context"
	"sync"
	"sync/atomic"
)

// DefaultQueue is the number of events a Memory topic holds for its dispatcher before it drops.
const DefaultQueue = 8192

// Memory is the in-process Bus: the embedded default, and a whole "cluster" in tests (two nodes
// are the same *Memory). It is safe for concurrent use.
//
// Each topic with subscribers has one dispatcher goroutine and a bounded queue. Publish appends
// to the queue and returns at once; it never waits for a handler. When a handler is so slow that
// the topic's queue is full, Publish drops the event for that topic (counted by Dropped) rather
// than block the publisher — the same at-most-once contract Redis pub/sub gives when it
// disconnects a subscriber that fell behind, and the same recovery: clients resync by seq.
// A topic's dispatcher ends when its last subscriber cancels.
type Memory struct {
	queue   int
	mu      sync.Mutex
	topics  map[string]*memTopic
	closed  bool
	nextID  uint64
	wg      sync.WaitGroup
	dropped atomic.Int64
}

type memTopic struct {
	subs    []memSub // copy-on-write: the dispatcher reads a snapshot
	pending []Event
	wake    chan struct{} // buffered 1: pending became non-empty
	done    chan struct{} // closed when the topic has no subscriber left, or on Close
}

type memSub struct {
	id uint64
	h  func(Event)
}

// NewMemory returns an in-process Bus whose topics buffer DefaultQueue events each.
func NewMemory() *Memory { return NewMemorySize(DefaultQueue) }

// NewMemorySize returns an in-process Bus whose topics buffer up to queue events each (at least 1).
func NewMemorySize(queue int) *Memory {
	return &Memory{queue: max(queue, 1), topics: make(map[string]*memTopic)}
}

// Dropped is the number of events dropped because a topic's queue was full.
func (m *Memory) Dropped() int64 { return m.dropped.Load() }

// Publish queues e for every subscriber of topic. A topic nobody subscribes to drops it.
func (m *Memory) Publish(ctx context.Context, topic string, e Event) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	t := m.topics[topic]
	if t == nil {
		return nil
	}
	if len(t.pending) >= m.queue {
		m.dropped.Add(1)
		return nil
	}
	// Frame is copied so that a publisher may reuse its buffer, as it may with Redis.
	e.Frame = append([]byte(nil), e.Frame...)
	t.pending = append(t.pending, e)
	select {
	case t.wake <- struct{}{}:
	default:
	}
	return nil
}

// Subscribe calls h for every event published on topic until cancel is called.
func (m *Memory) Subscribe(topic string, h func(Event)) (func(), error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	t := m.topics[topic]
	if t == nil {
		t = &memTopic{wake: make(chan struct{}, 1), done: make(chan struct{})}
		m.topics[topic] = t
		m.wg.Add(1)
		go m.dispatch(t)
	}
	m.nextID++
	id := m.nextID
	t.subs = append(append([]memSub(nil), t.subs...), memSub{id: id, h: h})
	var once sync.Once
	return func() { once.Do(func() { m.unsubscribe(topic, t, id) }) }, nil
}

func (m *Memory) unsubscribe(topic string, t *memTopic, id uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	subs := make([]memSub, 0, len(t.subs))
	for _, s := range t.subs {
		if s.id != id {
			subs = append(subs, s)
		}
	}
	t.subs = subs
	if len(subs) == 0 && m.topics[topic] == t {
		delete(m.topics, topic)
		close(t.done)
	}
}

// dispatch delivers t's events in queue order, one handler call at a time.
func (m *Memory) dispatch(t *memTopic) {
	defer m.wg.Done()
	for {
		select {
		case <-t.done:
			return
		case <-t.wake:
		}
		for {
			m.mu.Lock()
			if len(t.pending) == 0 {
				m.mu.Unlock()
				break
			}
			e := t.pending[0]
			t.pending[0] = Event{}
			t.pending = t.pending[1:]
			if len(t.pending) == 0 {
				t.pending = nil // let the backing array go
			}
			subs := t.subs
			m.mu.Unlock()
			for _, s := range subs {
				s.h(e)
			}
			select {
			case <-t.done:
				return
			default:
			}
		}
	}
}

// Close stops every dispatcher and waits for them; handlers in progress finish first. Queued
// events are dropped. Close is idempotent.
func (m *Memory) Close() error {
	m.mu.Lock()
	if !m.closed {
		m.closed = true
		for name, t := range m.topics {
			close(t.done)
			delete(m.topics, name)
		}
	}
	m.mu.Unlock()
	m.wg.Wait()
	return nil
}

var _ Bus = (*Memory)(nil)
