-- Shared prelude of every redisstore decision script (prepended by scripts.go).
--
-- A script decides one or more requests of its algorithm, in order, at one instant: KEYS holds
-- each request's keys (one, or two for the sliding window), ARGV each request's requests,
-- period (µs), capacity (Burst, or requests when unset), cost, and for Concurrency its new
-- lease's ID. The store sends the queued requests that share a Redis Cluster slot (all of them
-- on a single server) in one script run, so TIME and the script's own overhead are paid once
-- per batch rather than per request. The reply is one {allowed, remaining, reset_after,
-- retry_after, delay, lease} per request.
--
-- All arithmetic is on integer microseconds: Lua numbers are doubles, exact for integers below
-- 2^53, and the Unix time in µs (~1.8e15) stays far below that, so the scripts reproduce
-- package limit's integer math instead of drifting from it (for any bucket that refills within
-- a century, capacity × T < 2^53 − now). Package limit counts in nanoseconds; Redis TIME has
-- microseconds, so the same formulas run here at µs resolution.

-- One clock for every limiter process: the Redis server's. Redis 7 replicates script effects,
-- so reading TIME before writing is allowed.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])

-- Integer division is floor(a / b) or ceil(a / b), and exact: for integers |a|, b < 2^53 an
-- inexact quotient lies at least 1/b from any integer, while the division's rounding error is
-- below |a/b|·2^-53 < 1/b, so rounding never carries it across one.
local floor, ceil, max, min = math.floor, math.ceil, math.max, math.min

-- emission_interval is T = ⌈period / requests⌉ µs (limit.EmissionInterval): the time one unit
-- of the rate takes to come back, rounded up so that rounding never admits more than the limit.
-- The bucket algorithms and GCRA count capacity in these µs (a full bucket is capacity × T).
local function emission_interval(requests, period)
  return max(1, ceil(period / requests))
end

-- ttl_ms is a TTL of us microseconds in whole milliseconds, rounded up (at least 1): a key lives
-- until its state no longer changes a decision (limit.State.Expiry), and not forever.
local function ttl_ms(us)
  return max(1, ceil(us / 1000))
end

-- States of two integers are one string "<a>:<b>", so that writing one and its TTL is a single
-- SET ... PX: on Redis each call costs about as much as all of a script's arithmetic.
local function get_pair(key)
  local v = redis.call('GET', key)
  if not v then
    return nil
  end
  local a, b = string.match(v, '^(-?%d+):(-?%d+)$')
  return tonumber(a), tonumber(b)
end

local function set_pair(key, a, b, ttl_us)
  redis.call('SET', key, string.format('%d:%d', a, b), 'PX', ttl_ms(ttl_us))
end

-- reply is one request's answer; Go decodes it into a limit.Decision. Remaining and reset are
-- never negative.
local function reply(allowed, remaining, reset_after, retry_after, delay, lease)
  return {allowed and 1 or 0, max(remaining, 0), max(reset_after, 0), retry_after, delay, lease or ''}
end

-- impossible is package limit's answer to a cost above the capacity: denied, and told to come
-- back in one period (it can never pass, and a denial's RetryAfter must be positive).
local function impossible(period, remaining, reset_after)
  return reply(false, remaining, reset_after, period, 0)
end

-- decide_all runs decide(k, requests, period, capacity, cost, extra) for each request in ARGV,
-- nargs arguments apiece, where KEYS[k + 1] .. KEYS[k + nkeys] are the request's keys.
local function decide_all(decide, nkeys, nargs)
  local out = {}
  for i = 0, #ARGV / nargs - 1 do
    local a = i * nargs
    out[i + 1] = decide(i * nkeys, tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]),
      tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4]), ARGV[a + 5])
  end
  return out
end
