package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/chat"
)

// PushStore is the PostgreSQL chat.PushStore (table push_subscriptions, migration 0003). It
// mints no IDs, so a process that only reads and prunes subscriptions (chat-notifier) needs no
// snowflake node of its own.
//
// The cap of chat.MaxPushSubscriptions per user holds under concurrent saves because each save
// first locks its user's row (FOR NO KEY UPDATE, which foreign key checks elsewhere do not wait
// for): saves of one user run one at a time, each stamps created_at after taking the lock, and
// each trims what is beyond the cap.
type PushStore struct {
	pool *pgxpool.Pool
}

var _ chat.PushStore = (*PushStore)(nil)

// NewPushStore returns the push store on pool; the schema must be migrated (Migrate).
func NewPushStore(pool *pgxpool.Pool) *PushStore {
	return &PushStore{pool: pool}
}

// SavePushSubscription implements chat.PushStore.
func (p *PushStore) SavePushSubscription(ctx context.Context, s chat.PushSubscription) error {
	if err := chat.ValidatePushSubscription(s); err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		var one int
		err := tx.QueryRow(ctx, "SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE", s.UserID).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("user %d: %w", s.UserID, chat.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("lock user %d: %w", s.UserID, err)
		}
		// clock_timestamp(), not now(): the time after the lock, so saves of one user are stamped
		// in the order they happen even when a later transaction started first.
		if _, err := tx.Exec(ctx, `INSERT INTO push_subscriptions (endpoint, user_id, p256dh, auth, created_at)
			VALUES ($1, $2, $3, $4, clock_timestamp())
			ON CONFLICT (endpoint) DO UPDATE SET user_id = EXCLUDED.user_id, p256dh = EXCLUDED.p256dh,
				auth = EXCLUDED.auth, created_at = EXCLUDED.created_at`,
			s.Endpoint, s.UserID, s.P256dh, s.Auth); err != nil {
			return notFound(err, "upsert push subscription")
		}
		if _, err := tx.Exec(ctx, `DELETE FROM push_subscriptions WHERE endpoint IN (
				SELECT endpoint FROM push_subscriptions WHERE user_id = $1
				ORDER BY created_at DESC, endpoint DESC OFFSET $2)`,
			s.UserID, chat.MaxPushSubscriptions); err != nil {
			return fmt.Errorf("trim push subscriptions: %w", err)
		}
		return nil
	})
}

// PushSubscriptions implements chat.PushStore.
func (p *PushStore) PushSubscriptions(ctx context.Context, user int64) ([]chat.PushSubscription, error) {
	rows, _ := p.pool.Query(ctx, `SELECT user_id, endpoint, p256dh, auth, created_at FROM push_subscriptions
		WHERE user_id = $1 ORDER BY created_at, endpoint`, user)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (chat.PushSubscription, error) {
		var s chat.PushSubscription
		err := r.Scan(&s.UserID, &s.Endpoint, &s.P256dh, &s.Auth, &s.CreatedAt)
		s.CreatedAt = s.CreatedAt.UTC()
		return s, err
	})
	if err != nil {
		return nil, fmt.Errorf("select push subscriptions: %w", err)
	}
	return out, nil
}

// DeletePushSubscription implements chat.PushStore.
func (p *PushStore) DeletePushSubscription(ctx context.Context, user int64, endpoint string) error {
	if _, err := p.pool.Exec(ctx, "DELETE FROM push_subscriptions WHERE endpoint = $1 AND user_id = $2", endpoint, user); err != nil {
		return fmt.Errorf("delete push subscription: %w", err)
	}
	return nil
}
