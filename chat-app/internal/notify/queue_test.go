package notify

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/shared/testkit"
)

// waitFor bounds every wait: generous for a loaded 2-core machine under -race.
const waitFor = 20 * time.Second

// impl is one Queue and Burst implementation under test.
type impl struct {
	name  string
	queue func(t *testing.T, o QueueOptions) Queue
	burst func(t *testing.T) Burst
}

func impls() []impl {
	return []impl{
		{
			name: "memory",
			queue: func(t *testing.T, o QueueOptions) Queue {
				q := NewMemory(o)
				t.Cleanup(func() { _ = q.Close() })
				return q
			},
			burst: func(*testing.T) Burst { return NewMemoryBurst(nil) },
		},
		{
			name: "redis",
			queue: func(t *testing.T, o QueueOptions) Queue {
				env := testkit.Redis(t)
				q, err := NewRedis(t.Context(), env.Client, env.Prefix, o)
				require.NoError(t, err)
				return q
			},
			burst: func(t *testing.T) Burst {
				env := testkit.Redis(t)
				return NewRedisBurst(env.Client, env.Prefix)
			},
		},
	}
}

// fast are queue options for tests: short backoff and block.
var fast = QueueOptions{MaxAttempts: 3, Backoff: 100 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Block: 50 * time.Millisecond}

// receiveN receives until n jobs came (failing after waitFor).
func receiveN(t *testing.T, q Queue, consumer string, n int) []Job {
	t.Helper()
	var out []Job
	deadline := time.Now().Add(waitFor)
	for len(out) < n {
		require.True(t, time.Now().Before(deadline), "got %d of %d jobs", len(out), n)
		jobs, err := q.Receive(t.Context(), consumer, n-len(out))
		require.NoError(t, err)
		out = append(out, jobs...)
	}
	return out
}

func TestQueueContract(t *testing.T) {
	t.Parallel()
	for _, im := range impls() {
		t.Run(im.name, func(t *testing.T) {
			t.Parallel()
			t.Run("received once, acked never again", func(t *testing.T) {
				t.Parallel()
				q := im.queue(t, fast)
				for i := range 3 {
					require.NoError(t, q.Enqueue(t.Context(), Job{UserID: int64(i + 1), ConversationID: 7, Seq: int64(i + 1), Preview: "hi"}))
				}
				jobs := receiveN(t, q, "a", 3)
				for i, j := range jobs {
					assert.Equal(t, int64(i+1), j.UserID, "in order")
					assert.Equal(t, 1, j.Attempts)
					assert.Equal(t, "hi", j.Preview)
					assert.NotEmpty(t, j.ID)
					require.NoError(t, q.Ack(t.Context(), j))
				}
				time.Sleep(3 * fast.MaxBackoff) // past every backoff
				more, err := q.Receive(t.Context(), "b", 10)
				require.NoError(t, err)
				assert.Empty(t, more)
			})
			t.Run("failed job comes back after its backoff with the next attempt", func(t *testing.T) {
				t.Parallel()
				q := im.queue(t, fast)
				require.NoError(t, q.Enqueue(t.Context(), Job{UserID: 1}))
				j := receiveN(t, q, "a", 1)[0]
				failed := time.Now()
				dead, err := q.Fail(t.Context(), j, errors.New("push service down"))
				require.NoError(t, err)
				require.False(t, dead)
				again := receiveN(t, q, "b", 1)[0]
				assert.GreaterOrEqual(t, time.Since(failed), fast.Backoff-10*time.Millisecond, "not before the backoff")
				assert.Equal(t, j.ID, again.ID)
				assert.Equal(t, 2, again.Attempts)
				require.NoError(t, q.Ack(t.Context(), again))
			})
			t.Run("dead-lettered after MaxAttempts with the attempts and error", func(t *testing.T) {
				t.Parallel()
				q := im.queue(t, fast)
				require.NoError(t, q.Enqueue(t.Context(), Job{UserID: 9, ConversationID: 3}))
				for attempt := 1; attempt <= fast.MaxAttempts; attempt++ {
					j := receiveN(t, q, "a", 1)[0]
					require.Equal(t, attempt, j.Attempts)
					dead, err := q.Fail(t.Context(), j, fmt.Errorf("boom %d", attempt))
					require.NoError(t, err)
					require.Equal(t, attempt == fast.MaxAttempts, dead)
				}
				dl, err := q.DeadLetters(t.Context(), 10)
				require.NoError(t, err)
				require.Len(t, dl, 1)
				assert.Equal(t, fast.MaxAttempts, dl[0].Attempts)
				assert.Equal(t, "boom 3", dl[0].Err)
				assert.Equal(t, int64(9), dl[0].Job.UserID)
				assert.Equal(t, int64(3), dl[0].Job.ConversationID)
				time.Sleep(3 * fast.MaxBackoff)
				more, err := q.Receive(t.Context(), "a", 10)
				require.NoError(t, err)
				assert.Empty(t, more, "gone from the job queue")
			})
			t.Run("a job its consumer abandoned goes to another one", func(t *testing.T) {
				t.Parallel()
				q := im.queue(t, fast)
				require.NoError(t, q.Enqueue(t.Context(), Job{UserID: 1}))
				j := receiveN(t, q, "dies", 1)[0] // neither acked nor failed
				again := receiveN(t, q, "lives", 1)[0]
				assert.Equal(t, j.ID, again.ID)
				assert.Equal(t, 2, again.Attempts)
			})
			t.Run("consumers racing get every job exactly once", func(t *testing.T) {
				t.Parallel()
				q := im.queue(t, fast)
				const n = 60
				for i := range n {
					require.NoError(t, q.Enqueue(t.Context(), Job{UserID: int64(i)}))
				}
				var mu sync.Mutex
				got := map[string]int{}
				var wg sync.WaitGroup
				for c := range 3 {
					wg.Go(func() {
						for {
							mu.Lock()
							done := len(got) == n
							mu.Unlock()
							if done {
								return
							}
							jobs, err := q.Receive(context.Background(), fmt.Sprint("c", c), 4)
							if !assert.NoError(t, err) {
								return
							}
							for _, j := range jobs {
								assert.NoError(t, q.Ack(context.Background(), j))
								mu.Lock()
								got[j.ID]++
								mu.Unlock()
							}
						}
					})
				}
				wg.Wait()
				require.Len(t, got, n)
				for id, c := range got {
					assert.Equal(t, 1, c, "job %s", id)
				}
			})
		})
	}
}
