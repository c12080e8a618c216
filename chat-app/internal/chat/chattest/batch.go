package chattest

import (
	"fmt"
	"sync"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/chat"
)

// The AppendBatch cases: a batch behaves as its messages appended one after the other.

func batchBasics(e *env) {
	t, s, ctx := e.t, e.s, e.ctx
	a, b := e.user("alice"), e.user("bob")
	g := e.group(a.ID, b.ID)
	e.send(text(g.ID, a.ID, "before", "first"))

	batch := []chat.Message{
		text(g.ID, a.ID, "a1", "one"),
		text(g.ID, b.ID, "b1", "two"),
		text(g.ID, a.ID, "a2", "three"),
	}
	rs, err := s.AppendBatch(ctx, batch)
	require.NoError(t, err)
	require.Len(t, rs, 3)
	ids := map[int64]bool{}
	for i, r := range rs {
		require.NoError(t, r.Err, "message %d", i)
		assert.True(t, r.Created, "message %d", i)
		assert.Equal(t, int64(2+i), r.Message.Seq, "consecutive seqs in the batch's order")
		assert.Equal(t, batch[i].Body, r.Message.Body)
		assert.Equal(t, batch[i].SenderID, r.Message.SenderID)
		assert.NotZero(t, r.Message.ID)
		assert.False(t, r.Message.CreatedAt.IsZero())
		assert.False(t, ids[r.Message.ID], "IDs are unique")
		ids[r.Message.ID] = true
	}
	page, err := s.Since(ctx, g.ID, 1, 10)
	require.NoError(t, err)
	require.Len(t, page, 3)
	for i, m := range page {
		assert.Equal(t, rs[i].Message, m, "what Since returns is what AppendBatch returned")
	}

	// The same batch again is three retries: nothing new.
	again, err := s.AppendBatch(ctx, batch)
	require.NoError(t, err)
	for i, r := range again {
		require.NoError(t, r.Err)
		assert.False(t, r.Created, "retry %d", i)
		assert.Equal(t, rs[i].Message, r.Message, "a retry returns the stored message")
	}
	assert.Equal(t, int64(4), e.lastSeq(a.ID, g.ID))

	empty, err := s.AppendBatch(ctx, nil)
	require.NoError(t, err)
	assert.Empty(t, empty)
}

func batchMixed(e *env) {
	t, s, ctx := e.t, e.s, e.ctx
	a, b, c := e.user("alice"), e.user("bob"), e.user("carol")
	g := e.group(a.ID, b.ID)
	mine := e.send(text(g.ID, a.ID, "mine", "mine"))     // seq 1
	theirs := e.send(text(g.ID, b.ID, "theirs", "hers")) // seq 2

	rs, err := s.AppendBatch(ctx, []chat.Message{
		text(g.ID, a.ID, "new-1", "three"),        // 0: seq 3
		text(g.ID, c.ID, "outsider", "let me in"), // 1: not a member
		text(g.ID, a.ID, "", "no client id"),      // 2: invalid
		{ConversationID: g.ID, SenderID: a.ID, ClientMsgID: "del", Kind: chat.Delete, RefSeq: theirs.Seq},              // 3: not hers to delete
		text(g.ID, a.ID, "mine", "a retry of seq 1"),                                                                   // 4: stored before
		text(g.ID, a.ID, "new-1", "three again"),                                                                       // 5: a copy of 0
		{ConversationID: g.ID, SenderID: a.ID, ClientMsgID: "edit", Kind: chat.Edit, Body: "edited", RefSeq: mine.Seq}, // 6: seq 4
		{ConversationID: g.ID, SenderID: a.ID, ClientMsgID: "edit-new", Kind: chat.Edit, Body: "3!", RefSeq: 3},        // 7: seq 5, targets 0
		{ConversationID: g.ID, SenderID: a.ID, ClientMsgID: "edit-edit", Kind: chat.Edit, Body: "x", RefSeq: 4},        // 8: targets an edit
		text(g.ID, b.ID, "new-2", "six"),                                                                               // 9: seq 6
	})
	require.NoError(t, err)
	require.Len(t, rs, 10)
	created := func(i int, seq int64) {
		t.Helper()
		if assert.NoError(t, rs[i].Err, "message %d", i) {
			assert.True(t, rs[i].Created, "message %d", i)
			assert.Equal(t, seq, rs[i].Message.Seq, "message %d", i)
		}
	}
	created(0, 3)
	e.isErr(rs[1].Err, chat.ErrNotMember, "a non-member's message")
	e.isErr(rs[2].Err, chat.ErrInvalid, "an invalid message")
	e.isErr(rs[3].Err, chat.ErrInvalid, "deleting someone else's message")
	require.NoError(t, rs[4].Err)
	assert.False(t, rs[4].Created)
	assert.Equal(t, mine, rs[4].Message, "a retry in a batch returns the stored message")
	require.NoError(t, rs[5].Err)
	assert.False(t, rs[5].Created, "a copy of an earlier message of the batch creates nothing")
	assert.Equal(t, rs[0].Message, rs[5].Message)
	created(6, 4)
	created(7, 5)
	e.isErr(rs[8].Err, chat.ErrInvalid, "editing an edit")
	created(9, 6)

	// The refused ones took no seq: the log is 1..6 without a gap.
	assert.Equal(t, int64(6), e.lastSeq(a.ID, g.ID))
	page, err := s.Since(ctx, g.ID, 0, 10)
	require.NoError(t, err)
	assert.Equal(t, []int64{1, 2, 3, 4, 5, 6}, seqsOf(page))

	// A batch may not span conversations; then nothing is stored.
	other := e.group(a.ID)
	_, err = s.AppendBatch(ctx, []chat.Message{text(g.ID, a.ID, "x1", "x"), text(other.ID, a.ID, "x2", "y")})
	e.isErr(err, chat.ErrInvalid, "a batch over two conversations")
	assert.Equal(t, int64(6), e.lastSeq(a.ID, g.ID), "nothing stored")
	assert.Equal(t, int64(0), e.lastSeq(a.ID, other.ID), "nothing stored")
}

// concurrentBatches races batches, single appends and retried batches on one conversation: the
// log stays gapless and every client_msg_id is stored exactly once.
func concurrentBatches(e *env) {
	t, s, ctx := e.t, e.s, e.ctx
	const writers, rounds, size = 6, 15, 4
	owner := e.user("owner")
	ids := make([]int64, writers)
	for i := range ids {
		ids[i] = e.user(fmt.Sprintf("writer%d", i)).ID
	}
	g := e.group(owner.ID, ids...)
	var mu sync.Mutex
	created := map[string]int64{} // client_msg_id → seq, from the results that created it
	var wg sync.WaitGroup
	start := make(chan struct{})
	for w := range writers {
		wg.Go(func() {
			<-start
			for r := range rounds {
				// Writers 0 and 1 send the same keys (a client retrying on two connections).
				owner := w
				if w == 1 {
					owner = 0
				}
				var batch []chat.Message
				for k := range size {
					batch = append(batch, text(g.ID, ids[owner], fmt.Sprintf("w%d-r%d-k%d", owner, r, k), "x"))
				}
				if w == 5 { // one writer appends one by one
					for _, m := range batch {
						got, ok, err := s.Append(ctx, m)
						if !assert.NoError(t, err) {
							return
						}
						record(&mu, created, m.ClientMsgID, got.Seq, ok, t)
					}
					continue
				}
				rs, err := s.AppendBatch(ctx, batch)
				if !assert.NoError(t, err) {
					return
				}
				for i, res := range rs {
					if !assert.NoError(t, res.Err) {
						return
					}
					record(&mu, created, batch[i].ClientMsgID, res.Message.Seq, res.Created, t)
				}
			}
		})
	}
	close(start)
	wg.Wait()

	const total = (writers - 1) * rounds * size // writers 0 and 1 share their keys
	require.Len(t, created, total, "every key created exactly once")
	assert.Equal(t, int64(total), e.lastSeq(owner.ID, g.ID))
	after := int64(0)
	for after < total {
		page, err := s.Since(ctx, g.ID, after, chat.MaxPageSize)
		require.NoError(t, err)
		require.NotEmpty(t, page)
		for _, m := range page {
			require.Equal(t, after+1, m.Seq, "the log is gapless")
			assert.Equal(t, created[m.ClientMsgID], m.Seq, "the seq the creator was told")
			after = m.Seq
		}
	}
}

func record(mu *sync.Mutex, created map[string]int64, key string, seq int64, isNew bool, t assert.TestingT) {
	mu.Lock()
	defer mu.Unlock()
	prev, seen := created[key]
	switch {
	case isNew && seen:
		assert.Fail(t, "created twice", "%s: seq %d and %d", key, prev, seq)
	case isNew:
		created[key] = seq
	}
}
