// Package notify tells users who have no connected device about new messages: a Policy turns a
// stored message into at most one notification job per (user, conversation) and burst window,
// a Queue (Redis Streams, or memory for the single-process default) holds the jobs with retries
// and a dead-letter queue, and a Worker hands them to a Sender (a log line, or Web Push).
//
// Delivery is at least once: a job is acked only after its Sender returned nil, a failed job is
// delivered again after a backoff (doubling per attempt), and after MaxAttempts it moves to the
// dead-letter queue. A worker that dies holding a job loses nothing: the job is re-delivered to
// another consumer once its backoff passed. The Redis queue follows the consumer-group pattern of
// https://redis.io/docs/latest/develop/data-types/streams/ (XREADGROUP, XPENDING, XCLAIM, XACK).
package notify

import (
	"context"
	"errors"
	"time"
)

// Defaults of QueueOptions.
const (
	DefaultMaxAttempts = 5
	DefaultBackoff     = 10 * time.Second
	DefaultMaxBackoff  = 5 * time.Minute
	DefaultBlock       = time.Second
)

// ErrClosed is returned by a closed queue.
var ErrClosed = errors.New("notify: queue closed")

// Job is one notification for one user: "new messages in this conversation".
type Job struct {
	ID             string    `json:"-"` // assigned by the queue
	UserID         int64     `json:"user_id"`
	ConversationID int64     `json:"conversation_id"`
	SenderID       int64     `json:"sender_id"`
	MessageID      int64     `json:"message_id"`
	Seq            int64     `json:"seq"`
	Preview        string    `json:"preview"` // the start of the body
	CreatedAt      time.Time `json:"created_at"`
	// Attempts is the number of this delivery: 1 the first time, set by Queue.Receive.
	Attempts int `json:"-"`
}

// DeadLetter is a job that failed MaxAttempts times.
type DeadLetter struct {
	Job      Job
	Attempts int
	Err      string // the last failure
	At       time.Time
}

// Queue holds notification jobs between the Policy and the Workers. A job received by one
// consumer is not given to another until it failed (Fail) and its backoff passed, or its
// consumer went silent for as long as that backoff.
type Queue interface {
	Enqueue(ctx context.Context, j Job) error
	// Receive returns up to max jobs for consumer: retries that are due first, then new jobs. It
	// waits up to QueueOptions.Block when there are none and then returns none.
	Receive(ctx context.Context, consumer string, max int) ([]Job, error)
	// Ack marks j delivered; it is never received again.
	Ack(ctx context.Context, j Job) error
	// Fail records a failed delivery of j: it is received again after its backoff, or, when
	// j.Attempts reached MaxAttempts, moved to the dead-letter queue (dead == true).
	Fail(ctx context.Context, j Job, cause error) (dead bool, err error)
	// DeadLetters lists up to max dead jobs, oldest first.
	DeadLetters(ctx context.Context, max int) ([]DeadLetter, error)
}

// QueueOptions configure a queue. Zero values take the defaults.
type QueueOptions struct {
	MaxAttempts int           // deliveries before the dead-letter queue (DefaultMaxAttempts)
	Backoff     time.Duration // wait before the first retry, doubled per attempt (DefaultBackoff)
	MaxBackoff  time.Duration // the cap of the doubling (DefaultMaxBackoff)
	// Block is how long Receive waits for work (DefaultBlock); it also bounds how late a due
	// retry is picked up by an idle consumer.
	Block time.Duration
}

func (o QueueOptions) withDefaults() QueueOptions {
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.Backoff <= 0 {
		o.Backoff = DefaultBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	o.MaxBackoff = max(o.MaxBackoff, o.Backoff)
	if o.Block <= 0 {
		o.Block = DefaultBlock
	}
	return o
}

// backoff is how long a job delivered n times waits before delivery n+1.
func (o QueueOptions) backoff(n int) time.Duration {
	d := o.Backoff
	for i := 1; i < n && d < o.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, o.MaxBackoff)
}
