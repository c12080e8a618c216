package presence

import (
	"context"
	"sync"
	"time"
)

// Memory is the in-process Tracker (the embedded default, one node). It is safe for concurrent use.
type Memory struct {
	o        Options
	mu       sync.Mutex
	notifyMu sync.Mutex // held from a change until its Notify returns, so reports keep their order
	users    map[int64]*memUser
	closed   bool
	stop     chan struct{}
	done     chan struct{}
}

type memUser struct {
	conns    map[string]memConn
	reported Status
	offAt    time.Time // zero unless an offline report is pending
}

type memConn struct {
	away    bool
	expires time.Time
}

// NewMemory starts an in-process tracker; Close stops its sweeper.
func NewMemory(o Options) *Memory {
	m := &Memory{o: o.withDefaults(), users: make(map[int64]*memUser), stop: make(chan struct{}), done: make(chan struct{})}
	go sweeper(m.o.SweepEvery, m.stop, m.done, m.Sweep)
	return m
}

// Connect records a live, not-away connection.
func (m *Memory) Connect(ctx context.Context, user int64, conn string) error {
	return m.touch(ctx, user, conn, false)
}

// Heartbeat keeps conn alive for another TTL and records whether it is away.
func (m *Memory) Heartbeat(ctx context.Context, user int64, conn string, away bool) error {
	return m.touch(ctx, user, conn, away)
}

func (m *Memory) touch(ctx context.Context, user int64, conn string, away bool) error {
	return m.change(ctx, user, func(u *memUser, now time.Time) {
		u.conns[conn] = memConn{away: away, expires: now.Add(m.o.TTL)}
	})
}

// Disconnect forgets conn.
func (m *Memory) Disconnect(ctx context.Context, user int64, conn string) error {
	return m.change(ctx, user, func(u *memUser, _ time.Time) { delete(u.conns, conn) })
}

// change applies f to user's record, then reports the resulting change if any.
func (m *Memory) change(ctx context.Context, user int64, f func(*memUser, time.Time)) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	now := m.o.Now()
	u := m.users[user]
	if u == nil {
		u = &memUser{conns: make(map[string]memConn), reported: Offline}
		m.users[user] = u
	}
	f(u, now)
	report, ok := m.settle(user, u, now)
	m.notifyMu.Lock()
	m.mu.Unlock()
	defer m.notifyMu.Unlock()
	if ok {
		m.o.Notify(ctx, user, report)
	}
	return nil
}

// settle drops u's expired connections, computes its status and decides what to report.
// It must be called with mu held.
func (m *Memory) settle(user int64, u *memUser, now time.Time) (Status, bool) {
	cur := live(u, now)
	if cur == Offline {
		if u.reported == Offline {
			u.offAt = time.Time{}
		} else if u.offAt.IsZero() {
			u.offAt = now.Add(m.o.Grace)
		} else if !now.Before(u.offAt) {
			u.reported, u.offAt = Offline, time.Time{}
			delete(m.users, user)
			return Offline, true
		}
		if u.reported == Offline && len(u.conns) == 0 {
			delete(m.users, user)
		}
		return "", false
	}
	u.offAt = time.Time{}
	if cur == u.reported {
		return "", false
	}
	u.reported = cur
	return cur, true
}

// live is the undebounced status of u's connections, dropping the expired ones.
func live(u *memUser, now time.Time) Status {
	s := Offline
	for id, c := range u.conns {
		switch {
		case !now.Before(c.expires):
			delete(u.conns, id)
		case !c.away:
			s = Online
		case s == Offline:
			s = Away
		}
	}
	return s
}

// Status is the status watchers have been (or are being) told.
func (m *Memory) Status(_ context.Context, user int64) (Status, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return "", ErrClosed
	}
	return m.status(user, m.o.Now()), nil
}

// Statuses implements Tracker.
func (m *Memory) Statuses(_ context.Context, users []int64) ([]Status, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	out, now := make([]Status, len(users)), m.o.Now()
	for i, u := range users {
		out[i] = m.status(u, now)
	}
	return out, nil
}

func (m *Memory) status(user int64, now time.Time) Status {
	u := m.users[user]
	if u == nil {
		return Offline
	}
	if cur := live(u, now); cur != Offline || u.offAt.IsZero() || !now.Before(u.offAt) {
		return cur
	}
	return u.reported // within Grace
}

// Sweep expires connections whose TTL passed and reports offline users whose Grace is over.
func (m *Memory) Sweep(ctx context.Context) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	now := m.o.Now()
	type report struct {
		user int64
		s    Status
	}
	var reports []report
	for id, u := range m.users {
		if s, ok := m.settle(id, u, now); ok {
			reports = append(reports, report{id, s})
		}
	}
	m.notifyMu.Lock()
	m.mu.Unlock()
	defer m.notifyMu.Unlock()
	for _, r := range reports {
		m.o.Notify(ctx, r.user, r.s)
	}
	return nil
}

// Close stops the sweeper. Pending offline reports are not made.
func (m *Memory) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.mu.Unlock()
	close(m.stop)
	<-m.done
	return nil
}

var _ Tracker = (*Memory)(nil)
