package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/chat"
)

// errRace ends an AppendBatch transaction whose insert skipped a row: a racing append of the
// same (sender, client_msg_id) committed after this transaction looked for it.
var errRace = errors.New("client_msg_id stored by a racing append")

// sendKey is a message's idempotency key.
type sendKey struct {
	sender int64
	client string
}

// maxRaces bounds how often AppendBatch starts over after losing such a race; each retry finds
// the winner's row in its first query, so a second loss needs yet another racer.
const maxRaces = 3

// Append implements chat.Store: a batch of one.
func (s *Store) Append(ctx context.Context, m chat.Message) (chat.Message, bool, error) {
	rs, err := s.AppendBatch(ctx, []chat.Message{m})
	if err != nil {
		return chat.Message{}, false, err
	}
	return rs[0].Message, rs[0].Created, rs[0].Err
}

// AppendBatch implements chat.Store in one transaction, whatever the batch's size:
//
//  1. one pipelined round trip finds the retries (rows already stored under their
//     (sender, client_msg_id)) and the senders' memberships, locked FOR SHARE until commit;
//  2. UPDATE conversations ... RETURNING takes the conversation's row lock and reserves a seq
//     for every message still to create — appends to one conversation queue here, which is
//     what makes seqs gapless and unique;
//  3. edits and deletes are checked against their targets, in the log or earlier in the batch;
//     the seqs of the ones refused are given back;
//  4. one INSERT ... SELECT FROM unnest(...) ON CONFLICT DO NOTHING writes the rows. If it
//     skipped one, a racing append of that key won: roll back (which returns the seqs too)
//     and start over.
//
// So n messages cost one row lock, one commit (one WAL flush) and six round trips, not n of each.
func (s *Store) AppendBatch(ctx context.Context, ms []chat.Message) ([]chat.AppendResult, error) {
	if err := chat.CheckBatch(ms); err != nil || len(ms) == 0 {
		return nil, err
	}
	out := make([]chat.AppendResult, len(ms))
	first, invalid := chat.FirstCopies(ms)
	for race := 0; ; race++ {
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return s.appendBatch(ctx, tx, ms, first, invalid, out) })
		switch {
		case errors.Is(err, errRace) && race < maxRaces:
			continue
		case err != nil:
			return nil, fmt.Errorf("append: %w", err)
		}
		return out, nil
	}
}

func (s *Store) appendBatch(ctx context.Context, tx pgx.Tx, ms []chat.Message, first []int, invalid []error, out []chat.AppendResult) error {
	conv := ms[0].ConversationID
	clear(out)
	var senders []int64
	var clients []string
	for i, m := range ms {
		if out[i].Err = invalid[i]; out[i].Err == nil && first[i] == i {
			senders, clients = append(senders, m.SenderID), append(clients, m.ClientMsgID)
		}
	}
	if len(senders) == 0 {
		chat.CopyFirsts(out, first)
		return nil
	}

	// 1. Retries and memberships.
	var b pgx.Batch
	var stored []chat.Message
	b.Queue("SELECT "+messageColumns+` FROM messages
		WHERE (sender_id, client_msg_id) IN (SELECT * FROM unnest($1::bigint[], $2::text[]))`, senders, clients).
		Query(func(rows pgx.Rows) (err error) {
			stored, err = collectMessages(rows, nil)
			return err
		})
	member := map[int64]bool{}
	b.Queue("SELECT user_id FROM members WHERE conversation_id = $1 AND user_id = ANY($2) FOR SHARE", conv, senders).
		Query(func(rows pgx.Rows) error {
			ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
			for _, id := range ids {
				member[id] = true
			}
			return err
		})
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return fmt.Errorf("select retries and members: %w", err)
	}
	byKey := make(map[sendKey]chat.Message, len(stored))
	for _, m := range stored {
		byKey[sendKey{m.SenderID, m.ClientMsgID}] = m
	}
	var todo []int // indexes of the messages to create, in order
	var refs []int64
	for i, m := range ms {
		switch prev, ok := byKey[sendKey{m.SenderID, m.ClientMsgID}]; {
		case out[i].Err != nil || first[i] != i:
		case ok:
			out[i].Message = prev
		case !member[m.SenderID]:
			out[i].Err = fmt.Errorf("user %d in conversation %d: %w", m.SenderID, conv, chat.ErrNotMember)
		default:
			todo = append(todo, i)
			if m.Kind != chat.Text {
				refs = append(refs, m.RefSeq)
			}
		}
	}
	if len(todo) == 0 {
		chat.CopyFirsts(out, first)
		return nil
	}

	// 2. Reserve the seqs.
	var last, removals int64
	if err := tx.QueryRow(ctx, "UPDATE conversations SET last_seq = last_seq + $2 WHERE id = $1 RETURNING last_seq, member_removals",
		conv, len(todo)).Scan(&last, &removals); err != nil {
		return fmt.Errorf("reserve seqs: %w", err)
	}
	base := last - int64(len(todo)) // the log's last seq before this batch

	// 3. Check edits and deletes; number the survivors.
	targets := map[int64]chat.Message{}
	if len(refs) > 0 {
		rows, err := tx.Query(ctx, "SELECT "+messageColumns+" FROM messages WHERE conversation_id = $1 AND seq = ANY($2)", conv, refs)
		found, err := collectMessages(rows, err)
		if err != nil {
			return fmt.Errorf("select targets: %w", err)
		}
		for _, m := range found {
			targets[m.Seq] = m
		}
	}
	created := todo[:0]
	for _, i := range todo {
		m := ms[i]
		if m.Kind != chat.Text {
			target, found := targets[m.RefSeq]
			if err := chat.CheckTarget(m, target, found); err != nil {
				out[i].Err = err
				continue
			}
		}
		m.ID, m.Seq, m.MemberRemovals = s.nextID(), base+int64(len(created))+1, removals
		out[i].Message, out[i].Created = m, true
		targets[m.Seq] = m // a later edit in this batch may target it
		created = append(created, i)
	}
	if n := int64(len(created)); n < int64(len(todo)) {
		if _, err := tx.Exec(ctx, "UPDATE conversations SET last_seq = $2 WHERE id = $1", conv, base+n); err != nil {
			return fmt.Errorf("give seqs back: %w", err)
		}
	}

	// 4. Write the rows.
	if len(created) > 0 {
		cols := struct {
			ids, seqs, senders, refs []int64
			clients, kinds, bodies   []string
		}{}
		for _, i := range created {
			m := out[i].Message
			cols.ids, cols.seqs, cols.senders, cols.refs = append(cols.ids, m.ID), append(cols.seqs, m.Seq),
				append(cols.senders, m.SenderID), append(cols.refs, m.RefSeq)
			cols.clients, cols.kinds, cols.bodies = append(cols.clients, m.ClientMsgID), append(cols.kinds, string(m.Kind)),
				append(cols.bodies, m.Body)
		}
		rows, err := tx.Query(ctx, `INSERT INTO messages (id, conversation_id, seq, sender_id, client_msg_id, kind, body, ref_seq)
			SELECT id, $1, seq, sender_id, client_msg_id, kind, body, ref_seq
			FROM unnest($2::bigint[], $3::bigint[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::bigint[])
				AS t (id, seq, sender_id, client_msg_id, kind, body, ref_seq)
			ON CONFLICT (sender_id, client_msg_id) DO NOTHING
			RETURNING seq, created_at`,
			conv, cols.ids, cols.seqs, cols.senders, cols.clients, cols.kinds, cols.bodies, cols.refs)
		if err != nil {
			return fmt.Errorf("insert messages: %w", err)
		}
		at := make(map[int64]time.Time, len(created)) // created_at by seq
		var seq int64
		var t time.Time
		if _, err := pgx.ForEachRow(rows, []any{&seq, &t}, func() error {
			at[seq] = t.UTC()
			return nil
		}); err != nil {
			return fmt.Errorf("insert messages: %w", err)
		}
		if len(at) < len(created) {
			return errRace
		}
		for _, i := range created {
			out[i].Message.CreatedAt = at[out[i].Message.Seq]
		}
	}
	chat.CopyFirsts(out, first)
	return nil
}
