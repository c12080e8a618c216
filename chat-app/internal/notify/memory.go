package notify

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// Memory is the in-process Queue of the single-process default, with the semantics of Redis.
type Memory struct {
	o    QueueOptions
	now  func() time.Time
	wake chan struct{} // closed and replaced when a job arrives

	mu      sync.Mutex
	seq     int64
	entries []*memEntry // in enqueue order
	dead    []DeadLetter
	closed  bool
}

type memEntry struct {
	job        Job
	deliveries int
	last       time.Time // of the last delivery or failure
}

// NewMemory returns an empty queue.
func NewMemory(o QueueOptions) *Memory {
	return &Memory{o: o.withDefaults(), now: time.Now, wake: make(chan struct{})}
}

// Close makes every call fail with ErrClosed and wakes blocked receivers.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.closed {
		m.closed = true
		close(m.wake)
	}
	return nil
}

// Enqueue implements Queue.
func (m *Memory) Enqueue(_ context.Context, j Job) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	m.seq++
	j.ID, j.Attempts = strconv.FormatInt(m.seq, 10), 0
	m.entries = append(m.entries, &memEntry{job: j})
	close(m.wake)
	m.wake = make(chan struct{})
	return nil
}

// Receive implements Queue.
func (m *Memory) Receive(ctx context.Context, _ string, limit int) ([]Job, error) {
	deadline := time.Now().Add(m.o.Block)
	for {
		out, wake, next, err := m.take(limit)
		if err != nil || len(out) > 0 {
			return out, err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil, nil
		}
		if next > 0 {
			left = min(left, next)
		}
		t := time.NewTimer(left)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// take claims what is ready now; otherwise it returns what to wait for: a wake-up on a new job
// and, when a retry is pending, how long until it is due.
func (m *Memory) take(limit int) (out []Job, wake <-chan struct{}, next time.Duration, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, nil, 0, ErrClosed
	}
	now := m.now()
	// Retries first (they waited longest), then new jobs, like the Redis queue.
	for pass := range 2 {
		for i := 0; i < len(m.entries) && len(out) < limit; i++ {
			e := m.entries[i]
			if (pass == 0) != (e.deliveries > 0) {
				continue
			}
			if e.deliveries > 0 {
				if wait := e.last.Add(m.o.backoff(e.deliveries)).Sub(now); wait > 0 {
					if next == 0 || wait < next {
						next = wait
					}
					continue
				}
			}
			e.deliveries++
			e.last = now
			if e.deliveries > m.o.MaxAttempts { // its consumer vanished on the last attempt
				m.bury(i, e.deliveries-1, "abandoned by its consumer")
				i--
				continue
			}
			j := e.job
			j.Attempts = e.deliveries
			out = append(out, j)
		}
	}
	return out, m.wake, next, nil
}

func (m *Memory) find(id string) int {
	for i, e := range m.entries {
		if e.job.ID == id {
			return i
		}
	}
	return -1
}

func (m *Memory) bury(i, attempts int, cause string) {
	m.dead = append(m.dead, DeadLetter{Job: m.entries[i].job, Attempts: attempts, Err: cause, At: m.now()})
	m.entries = append(m.entries[:i], m.entries[i+1:]...)
}

// Ack implements Queue.
func (m *Memory) Ack(_ context.Context, j Job) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if i := m.find(j.ID); i >= 0 {
		m.entries = append(m.entries[:i], m.entries[i+1:]...)
	}
	return nil
}

// Fail implements Queue.
func (m *Memory) Fail(_ context.Context, j Job, cause error) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false, ErrClosed
	}
	i := m.find(j.ID)
	if i < 0 {
		return false, fmt.Errorf("fail job %s: not pending", j.ID)
	}
	if j.Attempts >= m.o.MaxAttempts {
		m.bury(i, j.Attempts, cause.Error())
		return true, nil
	}
	m.entries[i].last = m.now() // the backoff counts from the failure
	return false, nil
}

// DeadLetters implements Queue.
func (m *Memory) DeadLetters(_ context.Context, limit int) ([]DeadLetter, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]DeadLetter(nil), m.dead[:min(limit, len(m.dead))]...), nil
}
