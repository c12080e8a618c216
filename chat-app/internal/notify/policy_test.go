package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/chat"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/memstore"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/presence"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/snowflake"
)

// statuses is a Presence with fixed answers; unknown users are offline.
type statuses map[int64]presence.Status

func (s statuses) Statuses(_ context.Context, users []int64) ([]presence.Status, error) {
	out := make([]presence.Status, len(users))
	for i, u := range users {
		out[i] = presence.Offline
		if st, ok := s[u]; ok {
			out[i] = st
		}
	}
	return out, nil
}

// countingStatuses counts the Statuses round trips.
type countingStatuses struct {
	statuses
	calls atomic.Int64
}

func (c *countingStatuses) Statuses(ctx context.Context, users []int64) ([]presence.Status, error) {
	c.calls.Add(1)
	return c.statuses.Statuses(ctx, users)
}

// A gateway hands the policy a whole stored batch: one presence round trip for the conversation,
// one burst check per offline member, one job each — for the batch's first message — whoever
// sent it; members who sent in the batch still hear about the others' messages.
func TestPolicyBatch(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	q := NewMemory(fast)
	t.Cleanup(func() { _ = q.Close() })
	pres := &countingStatuses{statuses: statuses{w.carol: presence.Online}}
	p, err := NewPolicy(PolicyOptions{Members: w.store, Queue: q, Burst: NewMemoryBurst(nil), Presence: pres,
		Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)

	var batch []chat.Message
	for i := range 10 {
		batch = append(batch, w.send(t, fmt.Sprint("from alice ", i)))
	}
	fromBob, _, err := w.store.Append(t.Context(), chat.Message{ConversationID: w.group.ID, SenderID: w.bob,
		ClientMsgID: "bob-1", Kind: chat.Text, Body: "from bob"})
	require.NoError(t, err)
	other, err := w.store.Direct(t.Context(), w.alice, w.dave)
	require.NoError(t, err)
	toDave, _, err := w.store.Append(t.Context(), chat.Message{ConversationID: other.ID, SenderID: w.alice,
		ClientMsgID: "dm-1", Kind: chat.Text, Body: "psst"})
	require.NoError(t, err)
	p.OnCreated(t.Context(), append(batch, fromBob, toDave))

	assert.Equal(t, int64(2), pres.calls.Load(), "one Statuses round trip per conversation")
	got := map[[2]int64]int64{} // (user, conversation) → seq notified
	for _, j := range drain(t, q) {
		_, dup := got[[2]int64{j.UserID, j.ConversationID}]
		assert.False(t, dup, "one job per user and conversation")
		got[[2]int64{j.UserID, j.ConversationID}] = j.Seq
	}
	assert.Equal(t, map[[2]int64]int64{
		{w.bob, w.group.ID}:   batch[0].Seq, // offline; the batch's first message
		{w.dave, w.group.ID}:  batch[0].Seq,
		{w.alice, w.group.ID}: fromBob.Seq, // offline too: bob's message is news to her
		{w.dave, other.ID}:    toDave.Seq,
	}, got, "carol is online")
}

// world is a store with alice, bob, carol and dave in a group, alice writing.
type world struct {
	store                   *memstore.Store
	alice, bob, carol, dave int64
	group                   chat.Conversation
	n                       atomic.Int64
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ids, err := snowflake.New(1, nil)
	require.NoError(t, err)
	w := &world{store: memstore.New(ids)}
	for _, p := range []struct {
		id   *int64
		name string
	}{{&w.alice, "alice"}, {&w.bob, "bob"}, {&w.carol, "carol"}, {&w.dave, "dave"}} {
		u, err := w.store.CreateUser(t.Context(), chat.User{Username: p.name})
		require.NoError(t, err)
		*p.id = u.ID
	}
	w.group, err = w.store.CreateGroup(t.Context(), w.alice, "team", []int64{w.bob, w.carol, w.dave})
	require.NoError(t, err)
	return w
}

// send stores a text message from alice to the group.
func (w *world) send(t *testing.T, body string) chat.Message {
	t.Helper()
	m, created, err := w.store.Append(t.Context(), chat.Message{ConversationID: w.group.ID, SenderID: w.alice,
		ClientMsgID: fmt.Sprint("m-", w.n.Add(1)), Kind: chat.Text, Body: body})
	require.NoError(t, err)
	require.True(t, created)
	return m
}

// drain receives everything in q within a short while.
func drain(t *testing.T, q Queue) []Job {
	t.Helper()
	var out []Job
	for {
		jobs, err := q.Receive(t.Context(), "drain", 100)
		require.NoError(t, err)
		if len(jobs) == 0 {
			return out
		}
		for _, j := range jobs {
			require.NoError(t, q.Ack(t.Context(), j))
		}
		out = append(out, jobs...)
	}
}

func TestPolicy(t *testing.T) {
	t.Parallel()
	for _, im := range impls() {
		t.Run(im.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			q := im.queue(t, fast)
			reg := prometheus.NewRegistry()
			// bob offline, carol online, dave away (a device is connected), alice the sender.
			p, err := NewPolicy(PolicyOptions{Members: w.store, Queue: q, Burst: im.burst(t), Registerer: reg,
				Presence: statuses{w.carol: presence.Online, w.dave: presence.Away, w.alice: presence.Offline},
				Window:   time.Second, Logger: slog.New(slog.DiscardHandler)})
			require.NoError(t, err)

			first := w.send(t, "hello there")
			p.OnCreated(t.Context(), []chat.Message{first})
			for i := range 19 {
				p.OnCreated(t.Context(), []chat.Message{w.send(t, fmt.Sprint("burst ", i))})
			}
			jobs := drain(t, q)
			require.Len(t, jobs, 1, "a burst of 20 messages is one notification, to bob only")
			j := jobs[0]
			assert.Equal(t, w.bob, j.UserID)
			assert.Equal(t, w.group.ID, j.ConversationID)
			assert.Equal(t, w.alice, j.SenderID)
			assert.Equal(t, first.ID, j.MessageID)
			assert.Equal(t, first.Seq, j.Seq)
			assert.Equal(t, "hello there", j.Preview)
			assert.InDelta(t, 1, testutil.ToFloat64(p.enqueued), 0)

			// An edit is no news.
			edit, _, err := w.store.Append(t.Context(), chat.Message{ConversationID: w.group.ID, SenderID: w.alice,
				ClientMsgID: "edit-1", Kind: chat.Edit, Body: "hello!", RefSeq: first.Seq})
			require.NoError(t, err)
			time.Sleep(1100 * time.Millisecond) // the window ended
			p.OnCreated(t.Context(), []chat.Message{edit})
			assert.Empty(t, drain(t, q))

			// After the window, the next message notifies again.
			p.OnCreated(t.Context(), []chat.Message{w.send(t, "still there?")})
			jobs = drain(t, q)
			require.Len(t, jobs, 1)
			assert.Equal(t, w.bob, jobs[0].UserID)
		})
	}
}

// failingQueue refuses to enqueue until ok is set.
type failingQueue struct {
	Queue
	ok atomic.Bool
}

func (f *failingQueue) Enqueue(ctx context.Context, j Job) error {
	if !f.ok.Load() {
		return errors.New("queue down")
	}
	return f.Queue.Enqueue(ctx, j)
}

func TestPolicyEnqueueFailureDoesNotUseUpTheWindow(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	q := &failingQueue{Queue: NewMemory(fast)}
	p, err := NewPolicy(PolicyOptions{Members: w.store, Queue: q, Burst: NewMemoryBurst(nil),
		Presence: statuses{w.carol: presence.Online, w.dave: presence.Online}, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	p.OnCreated(t.Context(), []chat.Message{w.send(t, "lost")})
	assert.InDelta(t, 1, testutil.ToFloat64(p.errs), 0)
	q.ok.Store(true)
	p.OnCreated(t.Context(), []chat.Message{w.send(t, "next")})
	jobs := drain(t, q)
	require.Len(t, jobs, 1, "the next message notifies")
	assert.Equal(t, "next", jobs[0].Preview)
}

func TestPreviewCutsOnARuneBoundary(t *testing.T) {
	t.Parallel()
	long := ""
	for len(long) < 200 {
		long += "é"
	}
	p := preview("x" + long)
	assert.LessOrEqual(t, len(p), PreviewBytes+len("…"))
	assert.True(t, len(p) > 100)
	assert.Equal(t, "short", preview("short"))
	assert.Equal(t, "…", p[len(p)-len("…"):])
	for _, r := range p {
		assert.NotEqual(t, '\uFFFD', r)
	}
}

// recorder is a Sender that fails the first fails calls for each job, or always when fails < 0.
type recorder struct {
	fails int
	mu    sync.Mutex
	calls map[string]int // job ID → Send calls
	ok    map[string]int // job ID → successful Sends
}

func newRecorder(fails int) *recorder {
	return &recorder{fails: fails, calls: map[string]int{}, ok: map[string]int{}}
}

func (r *recorder) Send(_ context.Context, j Job) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls[j.ID]++
	if r.fails < 0 || r.calls[j.ID] <= r.fails {
		return fmt.Errorf("push service unavailable (call %d)", r.calls[j.ID])
	}
	r.ok[j.ID]++
	return nil
}

func (r *recorder) delivered() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for k, v := range r.ok {
		out[k] = v
	}
	return out
}

func (r *recorder) callsOf(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[id]
}

// runWorkers runs n workers on q with s until the test ends.
func runWorkers(t *testing.T, q Queue, s Sender, reg *prometheus.Registry, n int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range n {
		w, err := NewWorker(WorkerOptions{Queue: q, Sender: s, Consumer: fmt.Sprint("w", i), Registerer: reg,
			SendTimeout: 50 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
		require.NoError(t, err)
		wg.Go(func() { assert.NoError(t, w.Run(ctx)) })
	}
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
}

func TestWorker(t *testing.T) {
	t.Parallel()
	for _, im := range impls() {
		t.Run(im.name, func(t *testing.T) {
			t.Parallel()
			t.Run("fails twice then delivers once", func(t *testing.T) {
				t.Parallel()
				q := im.queue(t, QueueOptions{Backoff: 50 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, Block: 50 * time.Millisecond})
				rec, reg := newRecorder(2), prometheus.NewRegistry()
				runWorkers(t, q, rec, reg, 1)
				require.NoError(t, q.Enqueue(t.Context(), Job{UserID: 1}))
				require.Eventually(t, func() bool { return len(rec.delivered()) == 1 }, waitFor, 10*time.Millisecond)
				time.Sleep(300 * time.Millisecond) // longer than any backoff: nothing more comes
				got := rec.delivered()
				require.Len(t, got, 1)
				for id, n := range got {
					assert.Equal(t, 1, n, "delivered once")
					assert.Equal(t, 3, rec.callsOf(id), "two failures and the success")
				}
				m := metric(t, reg)
				assert.InDelta(t, 1, m["delivered"], 0)
				assert.InDelta(t, 2, m["retry"], 0)
				dl, err := q.DeadLetters(t.Context(), 10)
				require.NoError(t, err)
				assert.Empty(t, dl)
			})
			t.Run("always failing ends in the DLQ after MaxAttempts", func(t *testing.T) {
				t.Parallel()
				q := im.queue(t, QueueOptions{Backoff: 20 * time.Millisecond, MaxBackoff: 40 * time.Millisecond, Block: 50 * time.Millisecond})
				rec, reg := newRecorder(-1), prometheus.NewRegistry()
				runWorkers(t, q, rec, reg, 1)
				require.NoError(t, q.Enqueue(t.Context(), Job{UserID: 5, ConversationID: 6}))
				var dl []DeadLetter
				require.Eventually(t, func() bool {
					var err error
					dl, err = q.DeadLetters(t.Context(), 10)
					return err == nil && len(dl) == 1
				}, waitFor, 10*time.Millisecond)
				assert.Equal(t, DefaultMaxAttempts, dl[0].Attempts)
				assert.Equal(t, "push service unavailable (call 5)", dl[0].Err)
				assert.Equal(t, int64(5), dl[0].Job.UserID)
				time.Sleep(200 * time.Millisecond)
				assert.Equal(t, DefaultMaxAttempts, rec.callsOf(dl[0].Job.ID), "no attempt after the DLQ")
				m := metric(t, reg)
				assert.InDelta(t, 4, m["retry"], 0)
				assert.InDelta(t, 1, m["dead"], 0)
				assert.InDelta(t, 1, testutil.ToFloat64(counter(t, reg, "chat_notify_dlq_total")), 0)
			})
			t.Run("two workers never deliver a job twice", func(t *testing.T) {
				t.Parallel()
				q := im.queue(t, QueueOptions{Backoff: 2 * time.Second, Block: 50 * time.Millisecond})
				rec, reg := newRecorder(0), prometheus.NewRegistry()
				runWorkers(t, q, rec, reg, 2)
				const n = 100
				for i := range n {
					require.NoError(t, q.Enqueue(t.Context(), Job{UserID: int64(i)}))
				}
				require.Eventually(t, func() bool { return len(rec.delivered()) == n }, waitFor, 10*time.Millisecond)
				time.Sleep(100 * time.Millisecond)
				for id, c := range rec.delivered() {
					assert.Equal(t, 1, c, "job %s", id)
				}
				assert.InDelta(t, n, metric(t, reg)["delivered"], 0)
			})
		})
	}
}

// TestOfflineBurstEndToEnd: a burst to an offline user through Policy, queue and worker is one
// notification delivered.
func TestOfflineBurstEndToEnd(t *testing.T) {
	t.Parallel()
	for _, im := range impls() {
		t.Run(im.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			q := im.queue(t, fast)
			rec := newRecorder(0)
			runWorkers(t, q, rec, prometheus.NewRegistry(), 2)
			p, err := NewPolicy(PolicyOptions{Members: w.store, Queue: q, Burst: im.burst(t),
				Presence: statuses{w.bob: presence.Online, w.carol: presence.Online}, Logger: slog.New(slog.DiscardHandler)})
			require.NoError(t, err)
			for i := range 20 {
				p.OnCreated(t.Context(), []chat.Message{w.send(t, fmt.Sprint("m", i))})
			}
			require.Eventually(t, func() bool { return len(rec.delivered()) == 1 }, waitFor, 10*time.Millisecond)
			time.Sleep(300 * time.Millisecond)
			assert.Len(t, rec.delivered(), 1, "dave, offline, got exactly one notification")
		})
	}
}

// metric reads chat_notify_jobs_total by result.
func metric(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "chat_notify_jobs_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			out[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
		}
	}
	return out
}

func counter(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: "Notification jobs moved to the dead-letter queue."})
	got, err := register(reg, c)
	require.NoError(t, err)
	return got
}
