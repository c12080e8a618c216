package notify

import (
	"context"
	"log/slog"
)

// Sender delivers one notification. An error means "try again later"; the Worker retries it
// with backoff and dead-letters it after MaxAttempts.
type Sender interface {
	Send(ctx context.Context, j Job) error
}

// SenderFunc adapts a function to Sender.
type SenderFunc func(ctx context.Context, j Job) error

// Send implements Sender.
func (f SenderFunc) Send(ctx context.Context, j Job) error { return f(ctx, j) }

// LogSender writes one log line per notification: the sender of the embedded default, where
// there is no push service to talk to.
type LogSender struct{ Logger *slog.Logger }

// Send implements Sender.
func (s LogSender) Send(ctx context.Context, j Job) error {
	l := s.Logger
	if l == nil {
		l = slog.Default()
	}
	l.InfoContext(ctx, "notification", "user_id", j.UserID, "conversation_id", j.ConversationID,
		"sender_id", j.SenderID, "seq", j.Seq, "job_id", j.ID, "attempt", j.Attempts)
	return nil
}
