package send

import (
	"context"
	"sync"
	"time"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/chat"
)

// Group commit of sends (docs/architecture.md, "Send path"; ADR 0006).
//
// Appends to one conversation serialise on its row lock in PostgreSQL, so one transaction per
// send caps a conversation at 1 / (commit time) sends per second, whatever the hardware. Here
// sends queue per conversation instead, and one goroutine per busy conversation stores whatever
// has queued with one Store.AppendBatch — while a batch commits the next one fills up, so a
// busier conversation gets bigger batches rather than a longer queue. The results are handed
// back in the queue's order, which is seq order: answers and publishes leave in seq order too.
//
// One sender's sends to one conversation keep their order (they queue in the order they were
// submitted); answers to sends to different conversations may overtake each other.

const (
	// maxAppendBatch bounds one AppendBatch (and the frames of one publish burst).
	maxAppendBatch = 256
	// appendTimeout bounds one AppendBatch: its senders get an internal error after it.
	appendTimeout = 10 * time.Second
)

// appendReq is one send waiting for its batch: done is called with its result before its publish,
// on the batch's goroutine, with the batch's context (bounded by appendTimeout).
type appendReq struct {
	m    chat.Message
	done func(context.Context, chat.AppendResult)
}

type appender struct {
	store  chat.Store
	finish func(ctx context.Context, batch []appendReq, rs []chat.AppendResult, err error)

	mu     sync.Mutex
	queues map[int64][]appendReq // conversation → sends waiting; present while its goroutine runs
	n      int                   // sends waiting in all queues
	wg     sync.WaitGroup
}

func newAppender(store chat.Store, finish func(context.Context, []appendReq, []chat.AppendResult, error)) *appender {
	return &appender{store: store, finish: finish, queues: map[int64][]appendReq{}}
}

// submit queues r behind the conversation's earlier sends.
func (a *appender) submit(r appendReq) {
	conv := r.m.ConversationID
	a.mu.Lock()
	q, running := a.queues[conv]
	a.queues[conv] = append(q, r)
	a.n++
	if !running {
		a.wg.Add(1)
	}
	a.mu.Unlock()
	if !running {
		go func() {
			defer a.wg.Done()
			a.drain(conv)
		}()
	}
}

func (a *appender) queued() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.n
}

// drain stores conv's queue batch by batch until it is empty, then ends.
func (a *appender) drain(conv int64) {
	for {
		a.mu.Lock()
		q := a.queues[conv]
		if len(q) == 0 {
			delete(a.queues, conv)
			a.mu.Unlock()
			return
		}
		n := min(len(q), maxAppendBatch)
		batch := q[:n:n]
		if n == len(q) {
			a.queues[conv] = q[len(q):] // empty, but present: the goroutine still runs
		} else {
			a.queues[conv] = q[n:]
		}
		a.n -= n
		a.mu.Unlock()
		a.commit(batch)
	}
}

func (a *appender) commit(batch []appendReq) {
	ms := make([]chat.Message, len(batch))
	for i, r := range batch {
		ms[i] = r.m
	}
	ctx, cancel := context.WithTimeout(context.Background(), appendTimeout)
	defer cancel()
	rs, err := a.store.AppendBatch(ctx, ms)
	a.finish(ctx, batch, rs, err)
}

// wait blocks until every queued send was stored and answered, or ctx is done.
func (a *appender) wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		a.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
