// Package presence derives each user's status (online, away, offline) from their connections'
// heartbeats and reports changes, debounced so that a reconnect does not flap.
//
// Status rule (docs/protocol.md section 9): online if any live connection is not away, away if
// every live connection is away, offline if there is none. A connection is live from Connect
// until Disconnect, or until TTL passes without a Heartbeat (the process holding it died).
//
// Debounce: a change to online or away is reported at once. A change to offline is reported only
// once the user has stayed without a live connection for Grace; a connection within Grace cancels
// it, so a drop-and-reconnect produces no notification at all. Until it is reported, Status keeps
// answering the status watchers were last told.
//
// Expiry and the Grace deadline are noticed by Sweep, which a tracker runs every SweepEvery.
package presence

import (
	"context"
	"errors"
	"time"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/protocol"
)

// Status is a user's presence; the same strings as protocol.PresenceStatus.
type Status string

// Statuses.
const (
	Online  = Status(protocol.StatusOnline)
	Away    = Status(protocol.StatusAway)
	Offline = Status(protocol.StatusOffline)
)

// Defaults of Options.
const (
	DefaultGrace = 10 * time.Second
	DefaultTTL   = 2 * protocol.DefaultHeartbeat
)

// ErrClosed is returned after Close.
var ErrClosed = errors.New("presence: tracker closed")

// Notify is told each reported change of a user's status. It is called after the change is
// recorded, never concurrently by one tracker, and must not call the tracker's Connect,
// Heartbeat or Disconnect (Status is fine).
type Notify func(ctx context.Context, user int64, s Status)

// Tracker keeps each user's status from their connections' heartbeats, and calls notify when a
// user's status changes — debounced: a user who drops and comes back within Grace produces no
// offline/online pair.
type Tracker interface {
	Connect(ctx context.Context, user int64, conn string) error // a device connected (conn unique per connection)
	Heartbeat(ctx context.Context, user int64, conn string, away bool) error
	Disconnect(ctx context.Context, user int64, conn string) error
	Status(ctx context.Context, user int64) (Status, error)
	// Statuses is Status of each of users, in one round trip (the notification policy asks for
	// every member of a conversation at once).
	Statuses(ctx context.Context, users []int64) ([]Status, error)
}

// Options configure a tracker. The zero value of each field means its default.
type Options struct {
	Notify Notify        // may be nil
	Grace  time.Duration // how long a user without connections still shows their last status; DefaultGrace
	TTL    time.Duration // a connection without Heartbeat for TTL is dead; DefaultTTL (2 heartbeats)
	// SweepEvery is how often the tracker looks for dead connections and due offline reports;
	// default Grace/4 (at least 10 ms). Negative: never on its own (tests call Sweep).
	SweepEvery time.Duration
	// Now is the clock of the Memory tracker (the Redis tracker uses the Redis server's clock so
	// that nodes with skewed clocks agree). Default time.Now.
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.Grace <= 0 {
		o.Grace = DefaultGrace
	}
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	if o.SweepEvery == 0 {
		o.SweepEvery = max(o.Grace/4, 10*time.Millisecond)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Notify == nil {
		o.Notify = func(context.Context, int64, Status) {}
	}
	return o
}

// sweeper runs sweep every interval until stop is closed.
func sweeper(every time.Duration, stop <-chan struct{}, done chan<- struct{}, sweep func(context.Context) error) {
	defer close(done)
	if every < 0 {
		<-stop
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			// An error (Redis unreachable) is retried on the next tick; the state in Redis is
			// unchanged by a failed sweep.
			_ = sweep(context.Background())
		}
	}
}
