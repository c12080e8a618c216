package gateway

import (
	"context"
	"log/slog"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/chat"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/fanout"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/presence"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/protocol"
)

// PresenceNotifier is the presence.Notify that turns a user's status change into a presence
// frame on the user topic of each of the user's watchers (those who have them as a contact);
// every gateway node delivers it to the watchers' connected sessions.
func PresenceNotifier(store chat.Store, bus fanout.Bus, log *slog.Logger) presence.Notify {
	return func(ctx context.Context, user int64, s presence.Status) {
		b, err := protocol.Encode(protocol.Presence{UserID: protocol.ID(user), Status: protocol.PresenceStatus(s)})
		if err != nil {
			log.Error("encode presence", "err", err)
			return
		}
		watchers, err := store.Watchers(ctx, user)
		if err != nil {
			log.Warn("presence watchers", "user", user, "err", err)
			return
		}
		for _, w := range watchers {
			if err := bus.Publish(ctx, fanout.UserTopic(w), fanout.Event{From: user, Frame: b}); err != nil {
				log.Warn("publish presence", "user", user, "watcher", w, "err", err)
			}
		}
	}
}
