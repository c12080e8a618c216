package api_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/api"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/chat"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/limit"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/pgstore"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/send"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/snowflake"
	"github.com/hyperscaledesignhub/DesignSystems/shared/testkit"
)

// txStore counts the store's append transactions (Append and AppendBatch calls) and holds the
// first AppendBatch until released, so that sends arriving meanwhile must queue.
type txStore struct {
	chat.Store
	txs     atomic.Int64
	entered chan int // the size of each batch that reached the store
	gate    chan struct{}
	once    sync.Once
}

func (s *txStore) Append(ctx context.Context, m chat.Message) (chat.Message, bool, error) {
	s.txs.Add(1)
	return s.Store.Append(ctx, m)
}

func (s *txStore) AppendBatch(ctx context.Context, ms []chat.Message) ([]chat.AppendResult, error) {
	s.txs.Add(1)
	s.entered <- len(ms)
	s.once.Do(func() { <-s.gate })
	return s.Store.AppendBatch(ctx, ms)
}

// Concurrent HTTP sends into one group on PostgreSQL are stored by the group commit: the sends
// that arrive while a transaction commits share the next one, instead of one transaction (and
// one turn on the conversation's row lock) each. Idempotency on (sender, client_msg_id) holds for
// HTTP retries, inside one batch and after it.
func TestHTTPSendsIntoOneGroupAreCommittedInBatches(t *testing.T) {
	t.Parallel()
	env := testkit.Postgres(t)
	_, err := pgstore.Migrate(t.Context(), env.Pool)
	require.NoError(t, err)
	ids, err := snowflake.New(3, nil)
	require.NoError(t, err)
	st := &txStore{Store: pgstore.New(env.Pool, ids), entered: make(chan int, 100), gate: make(chan struct{})}
	h := serveSend(t, st, func(o *send.Options) { o.Limit = limit.New[int64](1000, 1000, nil) }, nil)

	const senders, each = 4, 4
	users := make([]account, senders)
	for i := range users {
		users[i] = h.signup(t, fmt.Sprintf("user%d", i))
	}
	var g api.Conversation
	h.call(t, users[0].token, "POST", "/v1/conversations/group", api.GroupRequest{Title: "busy",
		MemberIDs: []api.ID{users[1].user.ID, users[2].user.ID, users[3].user.ID}}).decode(t, &g)
	before := st.txs.Load()

	type answer struct {
		status int
		msg    api.Message
	}
	post := func(a account, id string, out chan<- answer) {
		res := h.send(t, a, g.ID, id, "body of "+id)
		var m api.Message
		if res.status < 300 {
			res.decode(t, &m)
		}
		out <- answer{res.status, m}
	}
	first := make(chan answer, 1)
	go post(users[0], "first", first)
	select {
	case n := <-st.entered:
		require.Equal(t, 1, n, "the first send is a batch of one")
	case <-time.After(waitFor):
		t.Fatal("the first send never reached the store")
	}
	// While it commits, 16 sends and a concurrent retry of one of them arrive.
	answers := make(chan answer, senders*each+1)
	for i, u := range users {
		for j := range each {
			go post(u, fmt.Sprintf("u%d-%d", i, j), answers)
		}
	}
	go post(users[1], "u1-0", answers)
	require.Eventually(t, func() bool { return h.sends.Queued() == senders*each+1 }, waitFor, 5*time.Millisecond,
		"every send queues behind the first transaction")
	close(st.gate)

	assert.Equal(t, http.StatusCreated, (<-first).status)
	seqs := map[int64]string{}
	dup := 0
	for range senders*each + 1 {
		a := <-answers
		switch a.status {
		case http.StatusCreated:
			assert.Empty(t, seqs[a.msg.Seq], "seq %d answered twice", a.msg.Seq)
			seqs[a.msg.Seq] = a.msg.ClientMsgID
		case http.StatusOK:
			dup++
			assert.Equal(t, "u1-0", a.msg.ClientMsgID, "the retry gets the original")
		default:
			t.Fatalf("status %d", a.status)
		}
	}
	assert.Equal(t, 1, dup, "one of the two concurrent u1-0 is the original, the other its retry")
	for seq := int64(2); seq <= senders*each+1; seq++ {
		assert.NotEmpty(t, seqs[seq], "seq %d: gapless", seq)
	}
	assert.Equal(t, senders*each+1, <-st.entered, "everything that queued went into one batch")
	assert.Equal(t, int64(2), st.txs.Load()-before, "18 HTTP sends, 2 transactions")
	count, sum := h.histogram(t, "chat_send_batch_messages")
	assert.Equal(t, uint64(2), count)
	assert.Equal(t, float64(senders*each+2), sum)

	// A retry after the fact is answered from the store: 200 with the original, nothing new.
	res := h.send(t, users[2], g.ID, "u2-3", "a different body")
	require.Equal(t, http.StatusOK, res.status)
	var m api.Message
	res.decode(t, &m)
	assert.Equal(t, "body of u2-3", m.Body)
	require.NoError(t, h.sends.Wait(t.Context())) // publishes follow the answers
	assert.Len(t, h.pub.published(), senders*each+1, "each created message published once, retries never")
}

// An HTTP send whose publish fails is stored (201) and counted in the send use case's
// publish-failure metric, the one WebSocket sends count in.
func TestHTTPPublishFailureIsCounted(t *testing.T) {
	t.Parallel()
	h := serve(t, memStore(t), nil)
	h.pub.err = fmt.Errorf("bus down")
	a, b := h.signup(t, "alice"), h.signup(t, "bob")
	var c api.Conversation
	h.call(t, a.token, "POST", "/v1/conversations/direct", api.DirectRequest{UserID: b.user.ID}).decode(t, &c)
	require.Equal(t, http.StatusCreated, h.send(t, a, c.ID, "a-1", "hi").status)
	require.Equal(t, http.StatusOK, h.send(t, a, c.ID, "a-1", "hi").status, "a retry publishes nothing")
	require.NoError(t, h.sends.Wait(t.Context())) // publishes follow the answers
	assert.Equal(t, 1.0, testkit.MetricSum(t, h.reg, "chat_send_publish_errors_total"))
}

// waitFor bounds waits for events that take milliseconds on an idle machine (not a timed assertion).
const waitFor = 30 * time.Second

// histogram returns the sample count and sum of a histogram of the send use case.
func (h *harness) histogram(t *testing.T, name string) (uint64, float64) {
	t.Helper()
	mfs, err := h.reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			hg := mf.GetMetric()[0].GetHistogram()
			return hg.GetSampleCount(), hg.GetSampleSum()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0, 0
}
