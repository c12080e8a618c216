package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Group is the consumer group of the notifier workers on the job stream.
const Group = "notifier"

// Redis is the Queue on a Redis stream (<prefix>chat:notify) read by the consumer group Group,
// with the dead-letter stream <prefix>chat:notify:dlq.
//
// A received job stays in the group's pending entries list (PEL) until acked. Its delivery count
// there is the attempt number. A failure resets the entry's idle time (XCLAIM to itself, JUSTID,
// which does not count a delivery); Receive re-delivers pending entries whose idle time passed
// the backoff of their attempt — XPENDING IDLE lists the candidates with their delivery counts,
// and XCLAIM with that backoff as min-idle takes each: of two consumers racing for one entry
// only the first succeeds, because the claim resets the idle time the second one's min-idle
// checks. (XAUTOCLAIM takes one min-idle for all entries, so it cannot double the backoff per
// attempt.) The same path re-delivers the jobs of a consumer that died.
type Redis struct {
	rdb    *redis.Client
	o      QueueOptions
	stream string
	dlq    string
}

// NewRedis creates the consumer group (and the stream) if they do not exist yet.
func NewRedis(ctx context.Context, rdb *redis.Client, prefix string, o QueueOptions) (*Redis, error) {
	q := &Redis{rdb: rdb, o: o.withDefaults(), stream: prefix + "chat:notify", dlq: prefix + "chat:notify:dlq"}
	err := rdb.XGroupCreateMkStream(ctx, q.stream, Group, "0").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return nil, fmt.Errorf("create consumer group on %s: %w", q.stream, err)
	}
	return q, nil
}

// Stream is the key of the job stream; DLQ that of the dead-letter stream.
func (q *Redis) Stream() string { return q.stream }

// DLQ is the key of the dead-letter stream.
func (q *Redis) DLQ() string { return q.dlq }

// Enqueue implements Queue.
func (q *Redis) Enqueue(ctx context.Context, j Job) error {
	b, err := json.Marshal(j)
	if err != nil {
		return fmt.Errorf("encode job: %w", err)
	}
	if err := q.rdb.XAdd(ctx, &redis.XAddArgs{Stream: q.stream, Values: []any{"job", b}}).Err(); err != nil {
		return fmt.Errorf("xadd %s: %w", q.stream, err)
	}
	return nil
}

// Receive implements Queue.
func (q *Redis) Receive(ctx context.Context, consumer string, limit int) ([]Job, error) {
	out, err := q.reclaim(ctx, consumer, limit)
	if err != nil || len(out) >= limit {
		return out, err
	}
	block := q.o.Block
	if len(out) > 0 {
		block = -1 // no BLOCK: return the retries now
	}
	res, err := q.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: Group, Consumer: consumer,
		Streams: []string{q.stream, ">"}, Count: int64(limit - len(out)), Block: block}).Result()
	if errors.Is(err, redis.Nil) {
		return out, nil
	}
	if err != nil {
		return out, fmt.Errorf("xreadgroup %s: %w", q.stream, err)
	}
	for _, s := range res {
		for _, msg := range s.Messages {
			j, err := decodeJob(msg)
			if err != nil {
				// Not a job we can read: retrying will not help.
				if err := q.bury(ctx, Job{ID: msg.ID}, 1, err.Error(), msg.Values); err != nil {
					return out, err
				}
				continue
			}
			j.Attempts = 1
			out = append(out, j)
		}
	}
	return out, nil
}

// reclaim claims pending entries whose backoff passed.
func (q *Redis) reclaim(ctx context.Context, consumer string, limit int) ([]Job, error) {
	pend, err := q.rdb.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: q.stream, Group: Group, Idle: q.o.Backoff,
		Start: "-", End: "+", Count: 100}).Result()
	if err != nil {
		return nil, fmt.Errorf("xpending %s: %w", q.stream, err)
	}
	var out []Job
	for _, p := range pend {
		if len(out) >= limit {
			break
		}
		wait := q.o.backoff(int(p.RetryCount))
		if p.Idle < wait {
			continue
		}
		msgs, err := q.rdb.XClaim(ctx, &redis.XClaimArgs{Stream: q.stream, Group: Group, Consumer: consumer,
			MinIdle: wait, Messages: []string{p.ID}}).Result()
		if err != nil {
			return out, fmt.Errorf("xclaim %s %s: %w", q.stream, p.ID, err)
		}
		if len(msgs) == 0 {
			continue // another consumer was first
		}
		attempt := int(p.RetryCount) + 1
		j, err := decodeJob(msgs[0])
		if err != nil || attempt > q.o.MaxAttempts {
			cause := "abandoned by its consumer"
			if err != nil {
				cause = err.Error()
			}
			if err := q.bury(ctx, Job{ID: p.ID, UserID: j.UserID, ConversationID: j.ConversationID, SenderID: j.SenderID,
				MessageID: j.MessageID, Seq: j.Seq, Preview: j.Preview, CreatedAt: j.CreatedAt}, attempt-1, cause, msgs[0].Values); err != nil {
				return out, err
			}
			continue
		}
		j.Attempts = attempt
		out = append(out, j)
	}
	return out, nil
}

func decodeJob(msg redis.XMessage) (Job, error) {
	raw, _ := msg.Values["job"].(string)
	var j Job
	if err := json.Unmarshal([]byte(raw), &j); err != nil {
		return Job{}, fmt.Errorf("decode job %s: %w", msg.ID, err)
	}
	j.ID = msg.ID
	return j, nil
}

// Ack implements Queue.
func (q *Redis) Ack(ctx context.Context, j Job) error {
	_, err := q.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.XAck(ctx, q.stream, Group, j.ID)
		p.XDel(ctx, q.stream, j.ID) // keeps the stream as short as the backlog
		return nil
	})
	if err != nil {
		return fmt.Errorf("ack job %s: %w", j.ID, err)
	}
	return nil
}

// Fail implements Queue.
func (q *Redis) Fail(ctx context.Context, j Job, cause error) (bool, error) {
	if j.Attempts >= q.o.MaxAttempts {
		return true, q.bury(ctx, j, j.Attempts, cause.Error(), nil)
	}
	// Claiming the entry to itself resets its idle time, so the backoff counts from now.
	if err := q.rdb.XClaimJustID(ctx, &redis.XClaimArgs{Stream: q.stream, Group: Group, Consumer: "failed",
		Messages: []string{j.ID}}).Err(); err != nil {
		return false, fmt.Errorf("fail job %s: %w", j.ID, err)
	}
	return false, nil
}

// bury moves an entry to the dead-letter stream and removes it from the job stream, atomically.
func (q *Redis) bury(ctx context.Context, j Job, attempts int, cause string, raw map[string]any) error {
	b, _ := json.Marshal(j) // a Job always encodes
	if raw != nil {
		if s, ok := raw["job"].(string); ok {
			b = []byte(s) // keep what was stored, even when it did not decode
		}
	}
	_, err := q.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.XAdd(ctx, &redis.XAddArgs{Stream: q.dlq, MaxLen: 100000, Approx: true, Values: []any{
			"job", b, "id", j.ID, "attempts", attempts, "error", cause, "at", time.Now().UnixMilli()}})
		p.XAck(ctx, q.stream, Group, j.ID)
		p.XDel(ctx, q.stream, j.ID)
		return nil
	})
	if err != nil {
		return fmt.Errorf("dead-letter job %s: %w", j.ID, err)
	}
	return nil
}

// DeadLetters implements Queue.
func (q *Redis) DeadLetters(ctx context.Context, limit int) ([]DeadLetter, error) {
	msgs, err := q.rdb.XRangeN(ctx, q.dlq, "-", "+", int64(limit)).Result()
	if err != nil {
		return nil, fmt.Errorf("xrange %s: %w", q.dlq, err)
	}
	out := make([]DeadLetter, 0, len(msgs))
	for _, m := range msgs {
		var d DeadLetter
		raw, _ := m.Values["job"].(string)
		_ = json.Unmarshal([]byte(raw), &d.Job) // an undecodable job is listed with its ID only
		d.Job.ID, _ = m.Values["id"].(string)
		d.Err, _ = m.Values["error"].(string)
		a, _ := m.Values["attempts"].(string)
		d.Attempts, _ = strconv.Atoi(a)
		d.Job.Attempts = d.Attempts
		ms, _ := m.Values["at"].(string)
		at, _ := strconv.ParseInt(ms, 10, 64)
		d.At = time.UnixMilli(at)
		out = append(out, d)
	}
	return out, nil
}
