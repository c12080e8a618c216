package presence

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Redis keeps presence in Redis so that every gateway node sees every user's connections.
//
// Keys, for a user U (the {U} hash tag keeps a user's keys together):
//
//	<prefix>presence:{U}:c:<conn>  "0" or "1" (away), with a TTL: a connection key that expired
//	                               is a dead connection (its process stopped heartbeating)
//	<prefix>presence:{U}:conns     SET of U's connection ids (some possibly expired)
//	<prefix>presence:{U}:status    the status last reported for U (absent = offline)
//	<prefix>presence:expiry        ZSET "U|conn" -> when that connection expires (ms, Redis clock)
//	<prefix>presence:pending       ZSET U -> when U's offline is due to be reported
//
// Every change runs one Lua script that updates the connection, recomputes U's status from the
// live connection keys and compares it with the status key; the script tells the one caller
// that made a change to report it, so each change is reported once across all nodes. Time is the
// Redis server's (TIME), so nodes with skewed clocks agree.
//
// Dead connections and due offlines: every node's Sweep reads the two ZSETs for entries whose
// time has passed and re-runs the script for those users. That covers connections of a node that
// died (nobody disconnected them): any surviving node notices. Several nodes sweeping at once is
// harmless; the script reports each change once. Not for Redis Cluster (the script touches the
// two global ZSETs next to per-user keys).
type Redis struct {
	client redis.UniversalClient
	prefix string
	o      Options

	notifyMu sync.Mutex
	mu       sync.Mutex
	closed   bool
	stop     chan struct{}
	done     chan struct{}

	status *redis.Script // statusScript; a test gives it a script Redis has never seen
}

// NewRedis starts a tracker on client (kept and closed by the caller) whose keys all start with
// prefix; Close stops its sweeper. Options.Now is ignored: the clock is Redis's.
func NewRedis(client redis.UniversalClient, prefix string, o Options) (*Redis, error) {
	if client == nil {
		return nil, errors.New("presence: nil Redis client")
	}
	r := &Redis{client: client, prefix: prefix + "presence:", o: o.withDefaults(), stop: make(chan struct{}), done: make(chan struct{}),
		status: statusScript}
	go sweeper(r.o.SweepEvery, r.stop, r.done, r.Sweep)
	return r, nil
}

// touchScript applies one operation to a user's connections and settles the user's status.
//
// KEYS: 1 conns set, 2 status, 3 expiry zset, 4 pending zset.
// ARGV: 1 op (connect|disconnect|check), 2 conn, 3 away "0"/"1", 4 ttl ms, 5 grace ms,
// 6 connection key prefix ("<prefix>presence:{U}:c:"), 7 user id.
// Returns the status to report, or "" when there is nothing to report.
var touchScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local op, conn, ttl, grace, cprefix, user = ARGV[1], ARGV[2], tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6], ARGV[7]
if op == 'connect' then
  redis.call('SET', cprefix .. conn, ARGV[3], 'PX', ttl)
  redis.call('SADD', KEYS[1], conn)
  redis.call('ZADD', KEYS[3], now + ttl, user .. '|' .. conn)
elseif op == 'disconnect' then
  redis.call('DEL', cprefix .. conn)
  redis.call('SREM', KEYS[1], conn)
  redis.call('ZREM', KEYS[3], user .. '|' .. conn)
end
local online, away = 0, 0
for _, c in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local v = redis.call('GET', cprefix .. c)
  if not v then
    redis.call('SREM', KEYS[1], c)
    redis.call('ZREM', KEYS[3], user .. '|' .. c)
  elseif v == '1' then
    away = away + 1
  else
    online = online + 1
  end
end
local cur = 'offline'
if online > 0 then cur = 'online' elseif away > 0 then cur = 'away' end
local reported = redis.call('GET', KEYS[2]) or 'offline'
if cur == 'offline' then
  if reported == 'offline' then
    redis.call('ZREM', KEYS[4], user)
    return ''
  end
  local due = redis.call('ZSCORE', KEYS[4], user)
  if not due then
    redis.call('ZADD', KEYS[4], now + grace, user)
    return ''
  end
  if tonumber(due) <= now then
    redis.call('DEL', KEYS[2])
    redis.call('ZREM', KEYS[4], user)
    return 'offline'
  end
  return ''
end
redis.call('ZREM', KEYS[4], user)
if cur == reported then return '' end
redis.call('SET', KEYS[2], cur)
return cur
`)

// statusScript answers Status: the live status, or during Grace the status last reported.
// KEYS: 1 conns set, 2 status, 3 pending zset. ARGV: 1 connection key prefix, 2 user id.
var statusScript = redis.NewScript(statusLua)

const statusLua = `
local online, away = 0, 0
for _, c in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local v = redis.call('GET', ARGV[1] .. c)
  if v == '1' then away = away + 1 elseif v then online = online + 1 end
end
if online > 0 then return 'online' end
if away > 0 then return 'away' end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = redis.call('ZSCORE', KEYS[3], ARGV[2])
if due and tonumber(due) > now then return redis.call('GET', KEYS[2]) or 'offline' end
return 'offline'
`

func (r *Redis) userKey(user int64, part string) string {
	return r.prefix + "{" + strconv.FormatInt(user, 10) + "}:" + part
}

func (r *Redis) run(ctx context.Context, op string, user int64, conn string, away bool) (Status, error) {
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return "", ErrClosed
	}
	if strings.Contains(conn, "|") {
		return "", fmt.Errorf("presence: connection id %q contains '|'", conn)
	}
	flag := "0"
	if away {
		flag = "1"
	}
	keys := []string{r.userKey(user, "conns"), r.userKey(user, "status"), r.prefix + "expiry", r.prefix + "pending"}
	res, err := touchScript.Run(ctx, r.client, keys, op, conn, flag,
		r.o.TTL.Milliseconds(), r.o.Grace.Milliseconds(), r.userKey(user, "c:"), user).Text()
	if err != nil {
		return "", fmt.Errorf("presence %s user %d: %w", op, user, err)
	}
	return Status(res), nil
}

func (r *Redis) report(ctx context.Context, user int64, s Status) {
	if s == "" {
		return
	}
	r.notifyMu.Lock()
	defer r.notifyMu.Unlock()
	r.o.Notify(ctx, user, s)
}

// Connect records a live, not-away connection.
func (r *Redis) Connect(ctx context.Context, user int64, conn string) error {
	s, err := r.run(ctx, "connect", user, conn, false)
	r.report(ctx, user, s)
	return err
}

// Heartbeat keeps conn alive for another TTL and records whether it is away.
func (r *Redis) Heartbeat(ctx context.Context, user int64, conn string, away bool) error {
	s, err := r.run(ctx, "connect", user, conn, away)
	r.report(ctx, user, s)
	return err
}

// Disconnect forgets conn.
func (r *Redis) Disconnect(ctx context.Context, user int64, conn string) error {
	s, err := r.run(ctx, "disconnect", user, conn, false)
	r.report(ctx, user, s)
	return err
}

// Status is the status watchers have been (or are being) told.
func (r *Redis) Status(ctx context.Context, user int64) (Status, error) {
	s, err := r.Statuses(ctx, []int64{user})
	if err != nil {
		return "", err
	}
	return s[0], nil
}

// Statuses implements Tracker: the status script of every user in one pipeline. EVALSHA fails
// with NOSCRIPT until the script is cached (a fresh or flushed Redis): then it is loaded and the
// pipeline runs once more.
func (r *Redis) Statuses(ctx context.Context, users []int64) ([]Status, error) {
	for attempt := 0; ; attempt++ {
		cmds := make([]*redis.Cmd, len(users))
		_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, u := range users {
				keys := []string{r.userKey(u, "conns"), r.userKey(u, "status"), r.prefix + "pending"}
				cmds[i] = r.status.EvalSha(ctx, p, keys, r.userKey(u, "c:"), u)
			}
			return nil
		})
		if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") && attempt == 0 {
			if err := r.status.Load(ctx, r.client).Err(); err != nil {
				return nil, fmt.Errorf("presence statuses: load script: %w", err)
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("presence statuses of %d users: %w", len(users), err)
		}
		out := make([]Status, len(users))
		for i, c := range cmds {
			v, err := c.Text()
			if err != nil {
				return nil, fmt.Errorf("presence status user %d: %w", users[i], err)
			}
			out[i] = Status(v)
		}
		return out, nil
	}
}

// sweepBatch bounds the work of one Sweep; the rest waits for the next.
const sweepBatch = 1000

// Sweep re-settles every user (of any node) with a connection past its TTL or an offline report
// past its Grace, and reports what changed.
func (r *Redis) Sweep(ctx context.Context) error {
	now, err := r.client.Time(ctx).Result()
	if err != nil {
		return fmt.Errorf("presence sweep: %w", err)
	}
	upTo := strconv.FormatInt(now.UnixMilli(), 10)
	users := map[int64]bool{}
	for _, key := range []string{"expiry", "pending"} {
		members, err := r.client.ZRangeByScore(ctx, r.prefix+key, &redis.ZRangeBy{Min: "-inf", Max: upTo, Count: sweepBatch}).Result()
		if err != nil {
			return fmt.Errorf("presence sweep %s: %w", key, err)
		}
		for _, m := range members {
			id, _, _ := strings.Cut(m, "|")
			if u, err := strconv.ParseInt(id, 10, 64); err == nil {
				users[u] = true
			} else {
				_ = r.client.ZRem(ctx, r.prefix+key, m).Err() // not ours; never again
			}
		}
	}
	for u := range users {
		s, err := r.run(ctx, "check", u, "", false)
		if err != nil {
			return err
		}
		r.report(ctx, u, s)
	}
	return nil
}

// Close stops the sweeper. It does not close the client.
func (r *Redis) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.mu.Unlock()
	close(r.stop)
	<-r.done
	return nil
}

var _ Tracker = (*Redis)(nil)
