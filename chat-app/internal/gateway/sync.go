package gateway

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/chat"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/fanout"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/protocol"
)

// Exactly-once, in-order delivery per conversation (docs/protocol.md, section 5).
//
// Inputs: the store's log of conversation C (seq 1, 2, 3, … without gaps, each committed before
// it is published) and the bus's live feed of C, which may duplicate, reorder or lose events.
// Output: every entry with seq > the client's after_seq, each written once, in seq order.
//
// Per conversation the connection keeps mode ∈ {held, syncing, filling, live}, pending (live
// events not yet sent) and sent (the highest seq queued to this client; -1 = not known yet).
//
//  1. Subscribe first, read the store second. On the first sync frame the connection subscribes
//     to every conversation of the user (mode held: events are buffered in pending, nothing is
//     sent). A cursor {C, after_seq} sets mode syncing and streams Store.Since(after_seq) page by
//     page until a short page; the last seq streamed is the head H (H = after_seq for an empty
//     gap), then sync_done{C, H}.
//     Why nothing is lost: an entry with seq > H was not in the store when the last page was
//     read, so it was committed — and published — after the subscription existed, and the feed
//     put it into pending (or lost it, see 3). An entry with seq ≤ H went out in the gap.
//  2. Flush pending in seq order, dropping seq ≤ sent (the gap already carried them: this is the
//     overlap between subscription and store read, and the feed's duplicates). Events that keep
//     arriving during the flush land in pending and are flushed in the next round; only when
//     pending is empty under the lock does the mode become live — from then on the bus handler
//     sends directly, so there is exactly one writer of C's frames at any time.
//  3. Live: an event is sent only if seq == sent+1 (then sent++); seq ≤ sent is dropped. A hole
//     (seq > sent+1: a reordered or lost publish) switches C to filling: the event is parked
//     in pending and the syncer reads sent+1 … seq-1 from the store, then flushes as in 2.
//  4. Removed means removed. Every message event carries the count of member removals C had
//     when it was stored (the store bumps it under the row lock that orders the log). Before
//     sending an event whose count is above the one this session last checked, the syncer
//     re-reads the user's membership: gone → the session drops C (nothing more of it is sent);
//     still there → the count is recorded. So a message stored after the user's removal never
//     reaches their open sessions, even when it overtakes the "membership removed" frame on
//     the bus (which travels on another topic, from another process). Entries read from the
//     store to fill a hole precede such an event, so they were stored no later; a sync (rule 1)
//     re-checks after reading each page and before queueing it, so a removal during the sync
//     ends it with not_member.
//
// So the queue of C receives exactly the seqs after_seq+1, after_seq+2, … once each, in order
// (sent only grows by one per frame). The queue is FIFO and drained by one writer, so the socket
// carries the same order. If the connection dies (slow consumer 4008, network), the client
// resyncs from its own contiguous last_seq and the argument starts over: nothing lost, nothing
// applied twice. Conversations the client listed in no cursor become live after the last sync
// frame starting at their first buffered event (the client asks for earlier ones on seeing a
// seq beyond its last_seq + 1).
type convMode int

const (
	modeHeld convMode = iota
	modeSyncing
	modeFilling
	modeLive
)

type convState struct {
	mode    convMode
	pending []fanout.Event
	sent    int64  // highest seq queued to the client; -1 until known
	cancel  func() // ends the bus subscription; nil while it is being made
	// removals is the conversation's count of member removals this session's membership was
	// checked at (rule 4); 0 until an event says there were some.
	removals int64
}

// errHole is a hole the store could not fill (it does not have a seq the feed already announced).
var errHole = errors.New("store is missing a published seq")

// onConvEvent is the bus handler of a conversation topic. It runs on the bus's goroutine, so it
// never blocks: it buffers, queues without waiting, or hands a hole to the syncer.
func (c *conn) onConvEvent(conv int64, e fanout.Event) {
	if e.Seq == 0 { // ephemeral: typing, receipts; not echoed to the user who caused it
		if e.From != c.user && !c.q.push(outFrame{b: e.Frame, typ: frameType(e.Frame)}) {
			c.slow()
		}
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.convs[conv]
	if st == nil {
		return
	}
	switch st.mode {
	case modeHeld, modeSyncing, modeFilling:
		if len(st.pending) >= c.g.o.SendQueue {
			c.slow() // the client resyncs from its last_seq
			return
		}
		st.pending = append(st.pending, e)
	case modeLive:
		switch {
		case st.sent >= 0 && e.Seq <= st.sent:
			// duplicate from the feed
		case e.Removals > st.removals: // stored after a removal: check membership first (rule 4)
			st.mode = modeFilling
			st.pending = append(st.pending, e)
			signal(c.kick)
		case st.sent < 0 || e.Seq == st.sent+1:
			if !c.q.push(messageFrame(e.Frame)) {
				c.slow()
				return
			}
			st.sent = e.Seq
		default: // hole: fill it from the store before sending e
			st.mode = modeFilling
			st.pending = append(st.pending, e)
			signal(c.kick)
		}
	}
}

func messageFrame(b []byte) outFrame {
	return outFrame{b: b, typ: protocol.TypeMessage, created: createdAt(b)}
}

// syncer runs sync frames and hole fills, one at a time, in arrival order.
func (c *conn) syncer() {
	ctx := context.Background()
	for {
		var err error
		select {
		case <-c.done:
			return
		case s := <-c.syncJobs:
			err = c.runSync(ctx, s)
		case <-c.kick:
			err = c.fillHoles(ctx)
		}
		if err != nil {
			select {
			case <-c.done:
			default:
				c.log.Error("sync", "err", err)
				c.fail(protocol.CloseInternalError) // the client reconnects and resyncs
			}
			return
		}
	}
}

// runSync serves one sync frame (rules 1 and 2 above); the reader subscribed already.
func (c *conn) runSync(ctx context.Context, s protocol.Sync) error {
	for _, cur := range s.Conversations {
		conv := int64(cur.ConversationID)
		if _, err := c.g.o.Store.Member(ctx, conv, c.user); err != nil {
			if errors.Is(err, chat.ErrNotMember) || errors.Is(err, chat.ErrNotFound) {
				c.sendError(notMember(conv, string(protocol.TypeSync)))
				continue
			}
			return fmt.Errorf("check membership of %d: %w", conv, err)
		}
		if err := c.syncConversation(ctx, conv, cur.AfterSeq); err != nil {
			return err
		}
	}
	if s.More {
		return nil
	}
	// Conversations the client did not list start live with what was buffered for them.
	c.mu.Lock()
	var held []int64
	for conv, st := range c.convs {
		if st.mode == modeHeld {
			held = append(held, conv)
		}
	}
	c.mu.Unlock()
	slices.Sort(held)
	for _, conv := range held {
		if err := c.flush(ctx, conv, -1); err != nil {
			return err
		}
	}
	return nil
}

// subscribeAll subscribes, on the first sync frame, to every conversation of the user.
func (c *conn) subscribeAll(ctx context.Context) error {
	c.mu.Lock()
	done := c.subscribed
	c.subscribed = true
	c.mu.Unlock()
	if done {
		return nil
	}
	convs, err := c.g.o.Store.ConversationsOf(ctx, c.user)
	if err != nil {
		return fmt.Errorf("list conversations: %w", err)
	}
	for _, cv := range convs {
		if err := c.subscribe(cv.ID, modeHeld); err != nil {
			return err
		}
	}
	return nil
}

// subscribe creates conv's state in mode (unless it exists) and subscribes to its topic.
func (c *conn) subscribe(conv int64, mode convMode) error {
	c.mu.Lock()
	if st, ok := c.convs[conv]; ok {
		if mode == modeSyncing {
			st.mode = modeSyncing
		}
		c.mu.Unlock()
		return nil
	}
	st := &convState{mode: mode, sent: -1}
	c.convs[conv] = st
	c.mu.Unlock()
	cancel, err := c.g.o.Bus.Subscribe(fanout.ConversationTopic(conv), func(e fanout.Event) { c.onConvEvent(conv, e) })
	if err != nil {
		return fmt.Errorf("subscribe to conversation %d: %w", conv, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.convs[conv] != st { // unsubscribed (or the session ended) meanwhile
		cancel()
		return nil
	}
	st.cancel = cancel
	return nil
}

// unsubscribe ends the live feed of conv for this session (its user left the conversation).
// Dropping the state stops delivery at once (onConvEvent ignores unknown conversations); the bus
// subscription is cancelled on its own goroutine, because unsubscribe runs in a bus handler.
func (c *conn) unsubscribe(conv int64) {
	c.mu.Lock()
	st := c.convs[conv]
	delete(c.convs, conv)
	c.mu.Unlock()
	if st != nil && st.cancel != nil {
		go st.cancel()
	}
}

// syncConversation streams the gap after afterSeq, then sync_done, then what the feed buffered.
func (c *conn) syncConversation(ctx context.Context, conv, afterSeq int64) error {
	// Subscribed (or buffering) before the first store read: see rule 1.
	if err := c.subscribe(conv, modeSyncing); err != nil {
		return err
	}
	head, err := c.stream(ctx, conv, afterSeq, math.MaxInt64, true)
	if err != nil {
		return err
	}
	if head < 0 { // removed during the sync: the session dropped conv
		c.sendError(notMember(conv, string(protocol.TypeSync)))
		return nil
	}
	b, err := protocol.Encode(protocol.SyncDone{ConversationID: protocol.ID(conv), LastSeq: head})
	if err != nil {
		return err
	}
	if !c.q.pushWait(c.done, outFrame{b: b, typ: protocol.TypeSyncDone}) {
		return nil
	}
	return c.flush(ctx, conv, head)
}

// stream queues the stored entries after..upto of conv (with back-pressure) and returns the last
// seq queued (after when there was none). With upto = MaxInt64 it reads until a short page.
// recheck re-reads the user's membership after reading each page and before queueing it, so a
// page read after a removal that came during the sync is not sent (rule 4): the session drops
// conv and stream returns -1.
func (c *conn) stream(ctx context.Context, conv, after, upto int64, recheck bool) (int64, error) {
	var buf []byte
	for after < upto {
		page, err := c.g.o.Store.Since(ctx, conv, after, syncPage)
		if err != nil {
			return after, fmt.Errorf("read conversation %d after %d: %w", conv, after, err)
		}
		if recheck && len(page) > 0 {
			if member, err := c.stillMember(ctx, conv, 0); err != nil || !member {
				return -1, err
			}
		}
		for _, m := range page {
			if m.Seq > upto {
				return after, nil
			}
			if m.Seq != after+1 {
				return after, fmt.Errorf("conversation %d: seq %d after %d: %w", conv, m.Seq, after, errHole)
			}
			pm := toProtocol(m)
			if buf, err = protocol.AppendMessage(buf[:0], &pm); err != nil {
				return after, err
			}
			f := outFrame{b: slices.Clone(buf), typ: protocol.TypeMessage, created: m.CreatedAt, stored: true}
			if !c.q.pushWait(c.done, f) {
				return after, nil // closing
			}
			after = m.Seq
		}
		if len(page) < syncPage {
			break
		}
	}
	return after, nil
}

// flush sends conv's pending events in seq order after sent, filling holes from the store, and
// switches conv to live once nothing is pending (rule 2). sent = -1 takes the first event as
// the start.
func (c *conn) flush(ctx context.Context, conv, sent int64) error {
	for {
		c.mu.Lock()
		st := c.convs[conv]
		if st == nil { // unsubscribed: the user left the conversation
			c.mu.Unlock()
			return nil
		}
		batch := st.pending
		st.pending = nil
		if len(batch) == 0 {
			st.mode, st.sent = modeLive, sent
			c.mu.Unlock()
			return nil
		}
		checked := st.removals
		c.mu.Unlock()
		if removals := slices.MaxFunc(batch, func(a, b fanout.Event) int { return cmp.Compare(a.Removals, b.Removals) }).Removals; removals > checked {
			if member, err := c.stillMember(ctx, conv, removals); err != nil || !member {
				return err
			}
		}
		slices.SortFunc(batch, func(a, b fanout.Event) int { return cmp.Compare(a.Seq, b.Seq) })
		for _, e := range batch {
			if sent >= 0 && e.Seq <= sent {
				continue // already in the gap, or a duplicate from the feed
			}
			if sent >= 0 && e.Seq > sent+1 {
				got, err := c.stream(ctx, conv, sent, e.Seq-1, false) // they precede e: rule 4 checked them
				if err != nil {
					return err
				}
				if got != e.Seq-1 {
					select {
					case <-c.done:
						return nil
					default:
					}
					return fmt.Errorf("conversation %d: filling %d..%d stopped at %d: %w", conv, sent+1, e.Seq-1, got, errHole)
				}
				sent = got
			}
			if !c.q.pushWait(c.done, messageFrame(e.Frame)) {
				return nil
			}
			sent = e.Seq
		}
	}
}

// stillMember re-reads the user's membership of conv before events that carry removals are
// sent (rule 4) and records the count; when the user is no longer a member the session drops conv.
func (c *conn) stillMember(ctx context.Context, conv, removals int64) (bool, error) {
	_, err := c.g.o.Store.Member(ctx, conv, c.user)
	switch {
	case errors.Is(err, chat.ErrNotMember) || errors.Is(err, chat.ErrNotFound):
		c.unsubscribe(conv)
		return false, nil
	case err != nil:
		return false, fmt.Errorf("check membership of %d: %w", conv, err)
	}
	c.mu.Lock()
	if st := c.convs[conv]; st != nil {
		st.removals = max(st.removals, removals)
	}
	c.mu.Unlock()
	return true, nil
}

// fillHoles flushes every conversation a live event found a hole in, or a removal (rules 3, 4).
func (c *conn) fillHoles(ctx context.Context) error {
	c.mu.Lock()
	var todo []int64
	sent := map[int64]int64{}
	for conv, st := range c.convs {
		if st.mode == modeFilling {
			todo = append(todo, conv)
			sent[conv] = st.sent
		}
	}
	c.mu.Unlock()
	slices.Sort(todo)
	for _, conv := range todo {
		if err := c.flush(ctx, conv, sent[conv]); err != nil {
			return err
		}
	}
	return nil
}
