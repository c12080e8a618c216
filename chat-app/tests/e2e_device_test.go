package tests

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/protocol"
)

// e2eDevice is one client device following the protocol's client rules (docs/protocol.md
// sections 5 and 6): per conversation it keeps last, the highest seq it holds contiguously, and
// syncs from it on every (re)connect; it retries an unacknowledged send with the same
// client_msg_id once reconnected and synced. When its connection drops it reconnects, to the
// next gateway of urls when one refuses. It counts what the servers must never make it see: a
// seq at or below last (duplicate) or above last+1 (gap).
type e2eDevice struct {
	name  string
	token string
	convs []int64
	urls  []string // its home gateway first

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every change of the fields below
	last    map[int64]int64
	order   map[int64][]string // client_msg_id of every applied entry, in seq order
	dups    int
	gaps    int
	conns   int                  // connections that reached ready
	gen     int                  // connection generation; live below belongs to it
	live    *websocket.Conn      // the current connection once synced, else nil
	waiters map[string]e2eWaiter // sends waiting for their ack, by client_msg_id
	runErr  error
}

type e2eWaiter struct {
	gen int
	ch  chan e2eResult
}

// e2eResult ends one attempt of a send: an ack, an error frame, or the connection dropped.
type e2eResult struct {
	ack     *protocol.Ack
	err     *protocol.ErrorFrame
	dropped bool
}

func newE2EDevice(name, token string, convs []int64, urls ...string) *e2eDevice {
	return &e2eDevice{name: name, token: token, convs: convs, urls: urls, changed: make(chan struct{}),
		last: map[int64]int64{}, order: map[int64][]string{}, waiters: map[string]e2eWaiter{}}
}

// notifyLocked wakes everyone waiting for a change; d.mu is held.
func (d *e2eDevice) notifyLocked() {
	close(d.changed)
	d.changed = make(chan struct{})
}

// waitUntil waits until cond (called with d.mu held) is true, or ctx ends.
func (d *e2eDevice) waitUntil(ctx context.Context, what string, cond func() bool) error {
	for {
		d.mu.Lock()
		ok, ch, runErr := cond(), d.changed, d.runErr
		d.mu.Unlock()
		switch {
		case ok:
			return nil
		case runErr != nil:
			return fmt.Errorf("%s: %s: connection loop ended: %w", d.name, what, runErr)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("%s: %s: %w (%s)", d.name, what, ctx.Err(), d.state())
		}
	}
}

func (d *e2eDevice) state() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return fmt.Sprintf("last=%v conns=%d live=%v dups=%d gaps=%d", d.last, d.conns, d.live != nil, d.dups, d.gaps)
}

// run keeps the device connected until ctx ends: connect, sync, read; on a drop, reconnect,
// moving on to the next gateway when one cannot be reached (with a capped backoff).
func (d *e2eDevice) run(ctx context.Context) {
	idx, backoff := 0, 50*time.Millisecond
	for ctx.Err() == nil {
		err := d.session(ctx, d.urls[idx])
		if ctx.Err() != nil {
			return
		}
		var dial *e2eDialError
		if errors.As(err, &dial) { // that gateway is gone: try the next one after a pause
			idx = (idx + 1) % len(d.urls)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		var pe *e2eProtocolError
		if errors.As(err, &pe) {
			d.mu.Lock()
			d.runErr = err
			d.notifyLocked()
			d.mu.Unlock()
			return
		}
		backoff = 50 * time.Millisecond // dropped after it worked: reconnect at once
	}
}

type e2eDialError struct{ err error }

func (e *e2eDialError) Error() string { return "dial: " + e.err.Error() }

type e2eProtocolError struct{ err error }

func (e *e2eProtocolError) Error() string { return "protocol: " + e.err.Error() }

// session is one connection: dial with the bearer token, wait for ready, sync every conversation
// from last, then apply frames until the connection ends.
func (d *e2eDevice) session(ctx context.Context, url string) error {
	dctx, cancel := context.WithTimeout(ctx, e2eWait)
	ws, _, err := websocket.Dial(dctx, url, &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {"Bearer " + d.token}}})
	cancel()
	if err != nil {
		return &e2eDialError{err}
	}
	defer func() { _ = ws.CloseNow() }()
	ws.SetReadLimit(1 << 20)
	read := func() (protocol.ServerFrame, error) {
		_, b, err := ws.Read(ctx)
		if err != nil {
			return nil, err
		}
		f, err := protocol.DecodeServer(b)
		if err != nil {
			return nil, &e2eProtocolError{err}
		}
		return f, nil
	}
	f, err := read()
	if err != nil {
		return err
	}
	if _, ok := f.(protocol.Ready); !ok {
		return &e2eProtocolError{fmt.Errorf("first frame %#v, want ready", f)}
	}
	d.mu.Lock()
	d.conns++
	d.gen++
	gen := d.gen
	s := protocol.Sync{}
	for _, conv := range d.convs {
		s.Conversations = append(s.Conversations, protocol.SyncCursor{ConversationID: protocol.ID(conv), AfterSeq: d.last[conv]})
	}
	d.mu.Unlock()
	defer func() { // the connection is gone: every send waiting on it must retry
		d.mu.Lock()
		if d.gen == gen {
			d.live = nil
		}
		for _, w := range d.waiters {
			if w.gen == gen {
				w.ch <- e2eResult{dropped: true}
			}
		}
		d.notifyLocked()
		d.mu.Unlock()
	}()
	b, err := protocol.EncodeClient(s)
	if err != nil {
		return &e2eProtocolError{err}
	}
	if err := ws.Write(ctx, websocket.MessageText, b); err != nil {
		return err
	}
	synced := map[int64]bool{}
	for {
		f, err := read()
		if err != nil {
			return err
		}
		d.mu.Lock()
		switch f := f.(type) {
		case protocol.Message:
			d.applyLocked(f)
		case protocol.SyncDone:
			synced[int64(f.ConversationID)] = true
			if len(synced) == len(d.convs) {
				d.live = ws // synced: sends may go out (again)
			}
		case protocol.Ack:
			if w, ok := d.waiters[f.ClientMsgID]; ok && w.gen == gen {
				w.ch <- e2eResult{ack: &f}
			}
		case protocol.ErrorFrame:
			if w, ok := d.waiters[f.Ref]; ok && w.gen == gen {
				w.ch <- e2eResult{err: &f}
			} else {
				d.mu.Unlock()
				return &e2eProtocolError{fmt.Errorf("unexpected error frame %+v", f)}
			}
		}
		d.notifyLocked()
		d.mu.Unlock()
	}
}

func (d *e2eDevice) applyLocked(m protocol.Message) {
	conv := int64(m.ConversationID)
	switch {
	case m.Seq <= d.last[conv]:
		d.dups++
	case m.Seq > d.last[conv]+1:
		d.gaps++
	default:
		d.last[conv] = m.Seq
		d.order[conv] = append(d.order[conv], m.ClientMsgID)
	}
}

// e2eSendStats counts what a send took beyond one attempt.
type e2eSendStats struct {
	retries     int // resent after the connection dropped before the ack
	rateLimited int // resent after rate_limited
	duplicate   bool
}

// send posts a text message and returns its ack. It waits for a synced connection; when the
// connection drops before the ack it waits for the next one and resends with the same
// client_msg_id; after rate_limited it waits retry_after_ms and resends.
func (d *e2eDevice) send(ctx context.Context, conv int64, cmid, body string) (protocol.Ack, e2eSendStats, error) {
	var st e2eSendStats
	frame, err := protocol.EncodeClient(protocol.Send{ConversationID: protocol.ID(conv), ClientMsgID: cmid, Body: body})
	if err != nil {
		return protocol.Ack{}, st, err
	}
	for {
		if err := d.waitUntil(ctx, "connected for "+cmid, func() bool { return d.live != nil }); err != nil {
			return protocol.Ack{}, st, err
		}
		d.mu.Lock()
		ws, w := d.live, e2eWaiter{gen: d.gen, ch: make(chan e2eResult, 2)}
		if ws == nil { // dropped in between
			d.mu.Unlock()
			continue
		}
		d.waiters[cmid] = w
		d.mu.Unlock()
		var res e2eResult
		if err := ws.Write(ctx, websocket.MessageText, frame); err != nil {
			res.dropped = true
		} else {
			select {
			case res = <-w.ch:
			case <-ctx.Done():
				return protocol.Ack{}, st, fmt.Errorf("%s: no ack for %s: %w (%s)", d.name, cmid, ctx.Err(), d.state())
			}
		}
		d.mu.Lock()
		delete(d.waiters, cmid)
		d.mu.Unlock()
		switch {
		case res.ack != nil:
			st.duplicate = res.ack.Duplicate
			return *res.ack, st, nil
		case res.dropped:
			st.retries++
		case res.err.Code == protocol.CodeRateLimited:
			st.rateLimited++
			select {
			case <-time.After(time.Duration(res.err.RetryAfterMS) * time.Millisecond):
			case <-ctx.Done():
				return protocol.Ack{}, st, ctx.Err()
			}
		default:
			return protocol.Ack{}, st, fmt.Errorf("%s: send %s: %+v", d.name, cmid, *res.err)
		}
	}
}

// holds waits until the device holds every conversation up to heads (contiguously).
func (d *e2eDevice) holds(ctx context.Context, heads map[int64]int64) error {
	return d.waitUntil(ctx, fmt.Sprintf("hold %v", heads), func() bool {
		for _, conv := range d.convs {
			if d.last[conv] < heads[conv] {
				return false
			}
		}
		return true
	})
}
