// Package pgstore is the PostgreSQL chat.Store (pgx/v5). The schema is in migrations/ and
// docs/adr/0002-storage-schema.md explains its keys and the index behind each query.
//
// The two guarantees that need care under concurrency are made by the database, not by Go:
//   - gapless seqs: Append increments conversations.last_seq with UPDATE ... RETURNING in the
//     transaction that inserts the message, so the row lock orders appends per conversation and
//     a failed append rolls its number back;
//   - exactly-once sends: INSERT ... ON CONFLICT (sender_id, client_msg_id) DO NOTHING waits for a
//     racing insert of the same key to commit, then inserts nothing; Append then rolls back its
//     seq and returns the winner's row.
package pgstore

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/chat"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/snowflake"
)

// Store is the PostgreSQL chat.Store. The schema must be migrated (Migrate) before use.
type Store struct {
	pool *pgxpool.Pool
	ids  *snowflake.Generator
}

var _ chat.Store = (*Store)(nil)

// New returns a store on pool that numbers users, conversations and messages with ids. Every
// process sharing a database needs a generator with its own node number.
func New(pool *pgxpool.Pool, ids *snowflake.Generator) *Store {
	return &Store{pool: pool, ids: ids}
}

func (s *Store) nextID() int64 { return int64(s.ids.Next()) }

// PostgreSQL error codes the store maps to domain errors.
const (
	uniqueViolation     = "23505"
	foreignKeyViolation = "23503"
)

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// notFound maps a foreign key violation (an unknown user) to chat.ErrNotFound.
func notFound(err error, what string) error {
	if pgCode(err) == foreignKeyViolation {
		return fmt.Errorf("%s: %w", what, chat.ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, err)
}

const userColumns = "id, username, display_name, password_hash, created_at"

func scanUser(row pgx.Row) (chat.User, error) {
	var u chat.User
	err := row.Scan(&u.ID, &u.Username, &u.DisplayName, &u.PasswordHash, &u.CreatedAt)
	u.CreatedAt = u.CreatedAt.UTC()
	return u, err
}

// CreateUser implements chat.Store.
func (s *Store) CreateUser(ctx context.Context, u chat.User) (chat.User, error) {
	if err := chat.ValidateUser(u); err != nil {
		return chat.User{}, err
	}
	u.ID = s.nextID()
	err := s.pool.QueryRow(ctx, `INSERT INTO users (id, username, display_name, password_hash)
		VALUES ($1, $2, $3, $4) RETURNING created_at`, u.ID, u.Username, u.DisplayName, u.PasswordHash).Scan(&u.CreatedAt)
	if pgCode(err) == uniqueViolation {
		return chat.User{}, fmt.Errorf("username %q: %w", u.Username, chat.ErrExists)
	}
	if err != nil {
		return chat.User{}, fmt.Errorf("insert user: %w", err)
	}
	u.CreatedAt = u.CreatedAt.UTC()
	return u, nil
}

// UserByID implements chat.Store.
func (s *Store) UserByID(ctx context.Context, id int64) (chat.User, error) {
	return s.oneUser(ctx, fmt.Sprintf("user %d", id), "SELECT "+userColumns+" FROM users WHERE id = $1", id)
}

// UserByName implements chat.Store.
func (s *Store) UserByName(ctx context.Context, username string) (chat.User, error) {
	return s.oneUser(ctx, fmt.Sprintf("user %q", username), "SELECT "+userColumns+" FROM users WHERE lower(username) = lower($1)", username)
}

func (s *Store) oneUser(ctx context.Context, what, sql string, arg any) (chat.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, sql, arg))
	if errors.Is(err, pgx.ErrNoRows) {
		return chat.User{}, fmt.Errorf("%s: %w", what, chat.ErrNotFound)
	}
	if err != nil {
		return chat.User{}, fmt.Errorf("select %s: %w", what, err)
	}
	return u, nil
}

// AddContact implements chat.Store.
func (s *Store) AddContact(ctx context.Context, owner, contact int64) error {
	if owner == contact {
		return fmt.Errorf("%w: a user cannot be their own contact", chat.ErrInvalid)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO contacts (owner_id, contact_id) VALUES ($1, $2)
		ON CONFLICT DO NOTHING`, owner, contact)
	if err != nil {
		return notFound(err, "insert contact")
	}
	return nil
}

// Contacts implements chat.Store.
func (s *Store) Contacts(ctx context.Context, owner int64) ([]chat.User, error) {
	rows, _ := s.pool.Query(ctx, `SELECT u.id, u.username, u.display_name, u.password_hash, u.created_at
		FROM contacts c JOIN users u ON u.id = c.contact_id WHERE c.owner_id = $1 ORDER BY u.id`, owner)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (chat.User, error) { return scanUser(r) })
	if err != nil {
		return nil, fmt.Errorf("select contacts: %w", err)
	}
	return out, nil
}

// Watchers implements chat.Store.
func (s *Store) Watchers(ctx context.Context, user int64) ([]int64, error) {
	rows, _ := s.pool.Query(ctx, "SELECT owner_id FROM contacts WHERE contact_id = $1 ORDER BY owner_id", user)
	out, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("select watchers: %w", err)
	}
	return out, nil
}

const convColumns = "id, kind, title, last_seq, created_at"

func scanConv(row pgx.Row) (chat.Conversation, error) {
	var c chat.Conversation
	var kind string
	err := row.Scan(&c.ID, &kind, &c.Title, &c.LastSeq, &c.CreatedAt)
	c.Kind, c.CreatedAt = chat.ConversationKind(kind), c.CreatedAt.UTC()
	return c, err
}

// Direct implements chat.Store.
func (s *Store) Direct(ctx context.Context, a, b int64) (chat.Conversation, error) {
	lo, hi, err := chat.DirectPair(a, b)
	if err != nil {
		return chat.Conversation{}, err
	}
	byPair := "SELECT " + convColumns + " FROM conversations WHERE direct_lo = $1 AND direct_hi = $2"
	c, err := scanConv(s.pool.QueryRow(ctx, byPair, lo, hi))
	if err == nil {
		return c, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return chat.Conversation{}, fmt.Errorf("select direct conversation: %w", err)
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// A concurrent creator of the same pair makes this INSERT wait for its commit and then
		// insert nothing; the SELECT that follows is a new statement, so it sees that row.
		c, err = scanConv(tx.QueryRow(ctx, `INSERT INTO conversations (id, kind, direct_lo, direct_hi)
			VALUES ($1, 'direct', $2, $3) ON CONFLICT (direct_lo, direct_hi) DO NOTHING
			RETURNING `+convColumns, s.nextID(), lo, hi))
		if errors.Is(err, pgx.ErrNoRows) {
			c, err = scanConv(tx.QueryRow(ctx, byPair, lo, hi))
			return err
		}
		if err != nil {
			return notFound(err, "insert direct conversation")
		}
		_, err = tx.Exec(ctx, `INSERT INTO members (conversation_id, user_id, role)
			VALUES ($1, $2, 'member'), ($1, $3, 'member')`, c.ID, lo, hi)
		return err
	})
	if err != nil {
		if errors.Is(err, chat.ErrNotFound) {
			return chat.Conversation{}, err
		}
		return chat.Conversation{}, fmt.Errorf("create direct conversation: %w", err)
	}
	return c, nil
}

// CreateGroup implements chat.Store.
func (s *Store) CreateGroup(ctx context.Context, owner int64, title string, members []int64) (chat.Conversation, error) {
	if err := chat.ValidateTitle(title); err != nil {
		return chat.Conversation{}, err
	}
	if members == nil {
		members = []int64{}
	}
	var c chat.Conversation
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		c, err = scanConv(tx.QueryRow(ctx, `INSERT INTO conversations (id, kind, title)
			VALUES ($1, 'group', $2) RETURNING `+convColumns, s.nextID(), title))
		if err != nil {
			return fmt.Errorf("insert group: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO members (conversation_id, user_id, role) VALUES ($1, $2, 'owner')`, c.ID, owner); err != nil {
			return notFound(err, "insert owner")
		}
		// The owner is already in, and duplicates collide: ON CONFLICT skips both.
		_, err = tx.Exec(ctx, `INSERT INTO members (conversation_id, user_id, role)
			SELECT $1, u, 'member' FROM unnest($2::bigint[]) AS u ON CONFLICT DO NOTHING`, c.ID, members)
		if err != nil {
			return notFound(err, "insert members")
		}
		return nil
	})
	if err != nil {
		return chat.Conversation{}, err
	}
	return c, nil
}

// group checks that conv is a group and returns actor's role in it, locking actor's membership
// until tx ends so that it cannot be removed meanwhile.
func group(ctx context.Context, tx pgx.Tx, actor, conv int64) (chat.Role, error) {
	var kind string
	err := tx.QueryRow(ctx, "SELECT kind FROM conversations WHERE id = $1", conv).Scan(&kind)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("conversation %d: %w", conv, chat.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("select conversation: %w", err)
	}
	if chat.ConversationKind(kind) != chat.Group {
		return "", fmt.Errorf("%w: the members of a direct conversation are fixed", chat.ErrInvalid)
	}
	return role(ctx, tx, conv, actor)
}

func role(ctx context.Context, tx pgx.Tx, conv, user int64) (chat.Role, error) {
	var r string
	err := tx.QueryRow(ctx, "SELECT role FROM members WHERE conversation_id = $1 AND user_id = $2 FOR SHARE", conv, user).Scan(&r)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("user %d in conversation %d: %w", user, conv, chat.ErrNotMember)
	}
	if err != nil {
		return "", fmt.Errorf("select member: %w", err)
	}
	return chat.Role(r), nil
}

// AddMember implements chat.Store.
func (s *Store) AddMember(ctx context.Context, actor, conv, user int64, r chat.Role) error {
	if err := chat.ValidateRole(r); err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		actorRole, err := group(ctx, tx, actor, conv)
		if err != nil {
			return err
		}
		if err := chat.CanAdd(actorRole, r); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO members (conversation_id, user_id, role) VALUES ($1, $2, $3)
			ON CONFLICT DO NOTHING`, conv, user, string(r))
		if err != nil {
			return notFound(err, fmt.Sprintf("add user %d", user))
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("user %d in conversation %d: %w", user, conv, chat.ErrExists)
		}
		return nil
	})
}

// RemoveMember implements chat.Store.
func (s *Store) RemoveMember(ctx context.Context, actor, conv, user int64) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		actorRole, err := group(ctx, tx, actor, conv)
		if err != nil {
			return err
		}
		targetRole, err := role(ctx, tx, conv, user)
		if err != nil {
			return err
		}
		if err := chat.CanRemove(actorRole, targetRole, actor == user); err != nil {
			return err
		}
		// The member row first, then the conversation row: the order Append locks them in.
		if _, err := tx.Exec(ctx, "DELETE FROM members WHERE conversation_id = $1 AND user_id = $2", conv, user); err != nil {
			return fmt.Errorf("delete member: %w", err)
		}
		if _, err := tx.Exec(ctx, "UPDATE conversations SET member_removals = member_removals + 1 WHERE id = $1", conv); err != nil {
			return fmt.Errorf("count the removal: %w", err)
		}
		return nil
	})
}

const memberColumns = "conversation_id, user_id, role, last_delivered_seq, last_read_seq, joined_at"

func scanMember(row pgx.Row) (chat.Member, error) {
	var m chat.Member
	var r string
	err := row.Scan(&m.ConversationID, &m.UserID, &r, &m.LastDeliveredSeq, &m.LastReadSeq, &m.JoinedAt)
	m.Role, m.JoinedAt = chat.Role(r), m.JoinedAt.UTC()
	return m, err
}

// Members implements chat.Store.
func (s *Store) Members(ctx context.Context, conv int64) ([]chat.Member, error) {
	rows, _ := s.pool.Query(ctx, "SELECT "+memberColumns+" FROM members WHERE conversation_id = $1 ORDER BY user_id", conv)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (chat.Member, error) { return scanMember(r) })
	if err != nil {
		return nil, fmt.Errorf("select members: %w", err)
	}
	if len(out) == 0 {
		return out, s.convExists(ctx, conv)
	}
	return out, nil
}

// CoMembers implements chat.Store. A conversation's size is counted only up to maxMembers+1
// rows of the members primary key, so a huge group costs no more than a small one here.
func (s *Store) CoMembers(ctx context.Context, user int64, maxMembers int) ([]int64, error) {
	rows, _ := s.pool.Query(ctx, `SELECT DISTINCT o.user_id
		FROM members me
		CROSS JOIN LATERAL (SELECT count(*) AS n FROM
			(SELECT 1 FROM members WHERE conversation_id = me.conversation_id LIMIT $2::int + 1) capped) size
		JOIN members o ON o.conversation_id = me.conversation_id
		WHERE me.user_id = $1 AND o.user_id <> $1 AND size.n <= $2::int
		ORDER BY o.user_id`, user, maxMembers)
	out, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("select co-members: %w", err)
	}
	return out, nil
}

// MembersAmong implements chat.Store.
func (s *Store) MembersAmong(ctx context.Context, conv int64, users []int64) ([]int64, error) {
	rows, _ := s.pool.Query(ctx, `SELECT user_id FROM members WHERE conversation_id = $1 AND user_id = ANY($2)
		ORDER BY user_id`, conv, users)
	out, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("select members among: %w", err)
	}
	return out, nil
}

// convExists returns chat.ErrNotFound when conv does not exist; queries that found no rows call
// it to tell an empty result from an unknown conversation.
func (s *Store) convExists(ctx context.Context, conv int64) error {
	var ok bool
	if err := s.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM conversations WHERE id = $1)", conv).Scan(&ok); err != nil {
		return fmt.Errorf("select conversation: %w", err)
	}
	if !ok {
		return fmt.Errorf("conversation %d: %w", conv, chat.ErrNotFound)
	}
	return nil
}

// Member implements chat.Store.
func (s *Store) Member(ctx context.Context, conv, user int64) (chat.Member, error) {
	m, err := scanMember(s.pool.QueryRow(ctx, "SELECT "+memberColumns+" FROM members WHERE conversation_id = $1 AND user_id = $2", conv, user))
	if errors.Is(err, pgx.ErrNoRows) {
		return chat.Member{}, fmt.Errorf("user %d in conversation %d: %w", user, conv, chat.ErrNotMember)
	}
	if err != nil {
		return chat.Member{}, fmt.Errorf("select member: %w", err)
	}
	return m, nil
}

// ConversationsOf implements chat.Store.
func (s *Store) ConversationsOf(ctx context.Context, user int64) ([]chat.Conversation, error) {
	rows, _ := s.pool.Query(ctx, `SELECT c.id, c.kind, c.title, c.last_seq, c.created_at
		FROM members m JOIN conversations c ON c.id = m.conversation_id
		WHERE m.user_id = $1 ORDER BY c.id`, user)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (chat.Conversation, error) { return scanConv(r) })
	if err != nil {
		return nil, fmt.Errorf("select conversations: %w", err)
	}
	return out, nil
}

// MembershipsOf implements chat.Store.
func (s *Store) MembershipsOf(ctx context.Context, user int64) ([]chat.Membership, error) {
	rows, _ := s.pool.Query(ctx, `SELECT c.id, c.kind, c.title, c.last_seq, c.created_at,
			m.conversation_id, m.user_id, m.role, m.last_delivered_seq, m.last_read_seq, m.joined_at
		FROM members m JOIN conversations c ON c.id = m.conversation_id
		WHERE m.user_id = $1 ORDER BY c.id`, user)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (chat.Membership, error) {
		var ms chat.Membership
		c, m := &ms.Conversation, &ms.Member
		var kind, role string
		err := r.Scan(&c.ID, &kind, &c.Title, &c.LastSeq, &c.CreatedAt,
			&m.ConversationID, &m.UserID, &role, &m.LastDeliveredSeq, &m.LastReadSeq, &m.JoinedAt)
		c.Kind, c.CreatedAt, m.Role, m.JoinedAt = chat.ConversationKind(kind), c.CreatedAt.UTC(), chat.Role(role), m.JoinedAt.UTC()
		return ms, err
	})
	if err != nil {
		return nil, fmt.Errorf("select memberships: %w", err)
	}
	return out, nil
}

const messageColumns = "id, conversation_id, seq, sender_id, client_msg_id, kind, body, ref_seq, created_at"

func scanMessage(row pgx.Row) (chat.Message, error) {
	var m chat.Message
	var kind string
	err := row.Scan(&m.ID, &m.ConversationID, &m.Seq, &m.SenderID, &m.ClientMsgID, &kind, &m.Body, &m.RefSeq, &m.CreatedAt)
	m.Kind, m.CreatedAt = chat.MessageKind(kind), m.CreatedAt.UTC()
	return m, err
}

func collectMessages(rows pgx.Rows, err error) ([]chat.Message, error) {
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (chat.Message, error) { return scanMessage(r) })
}

// History implements chat.Store.
func (s *Store) History(ctx context.Context, conv, beforeSeq int64, limit int) ([]chat.Message, error) {
	if err := chat.ValidatePage(beforeSeq, limit); err != nil {
		return nil, err
	}
	if beforeSeq == 0 {
		beforeSeq = math.MaxInt64
	}
	out, err := collectMessages(s.pool.Query(ctx, "SELECT "+messageColumns+` FROM messages
		WHERE conversation_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3`, conv, beforeSeq, limit))
	return s.page(ctx, conv, out, err)
}

// Since implements chat.Store.
func (s *Store) Since(ctx context.Context, conv, afterSeq int64, limit int) ([]chat.Message, error) {
	if err := chat.ValidatePage(afterSeq, limit); err != nil {
		return nil, err
	}
	out, err := collectMessages(s.pool.Query(ctx, "SELECT "+messageColumns+` FROM messages
		WHERE conversation_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`, conv, afterSeq, limit))
	return s.page(ctx, conv, out, err)
}

func (s *Store) page(ctx context.Context, conv int64, out []chat.Message, err error) ([]chat.Message, error) {
	if err != nil {
		return nil, fmt.Errorf("select messages: %w", err)
	}
	if len(out) == 0 {
		return out, s.convExists(ctx, conv)
	}
	return out, nil
}

// MarkDelivered implements chat.Store.
func (s *Store) MarkDelivered(ctx context.Context, conv, user, seq int64) (chat.Member, error) {
	return s.mark(ctx, conv, user, seq, false)
}

// MarkRead implements chat.Store.
func (s *Store) MarkRead(ctx context.Context, conv, user, seq int64) (chat.Member, error) {
	return s.mark(ctx, conv, user, seq, true)
}

// mark raises the receipts in one statement: GREATEST makes it monotonic whatever order
// concurrent receipts arrive in, and the join checks seq against the conversation's last_seq.
func (s *Store) mark(ctx context.Context, conv, user, seq int64, read bool) (chat.Member, error) {
	m, err := scanMember(s.pool.QueryRow(ctx, `UPDATE members m SET
			last_delivered_seq = GREATEST(m.last_delivered_seq, $3),
			last_read_seq = CASE WHEN $4 THEN GREATEST(m.last_read_seq, $3) ELSE m.last_read_seq END
		FROM conversations c
		WHERE m.conversation_id = $1 AND m.user_id = $2 AND c.id = m.conversation_id AND $3 BETWEEN 0 AND c.last_seq
		RETURNING m.conversation_id, m.user_id, m.role, m.last_delivered_seq, m.last_read_seq, m.joined_at`,
		conv, user, seq, read))
	if err == nil {
		return m, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return chat.Member{}, fmt.Errorf("update receipts: %w", err)
	}
	// Nothing updated: either not a member, or seq out of range.
	if _, err := s.Member(ctx, conv, user); err != nil {
		return chat.Member{}, err
	}
	return chat.Member{}, fmt.Errorf("%w: seq %d outside 0..last_seq of conversation %d", chat.ErrInvalid, seq, conv)
}
