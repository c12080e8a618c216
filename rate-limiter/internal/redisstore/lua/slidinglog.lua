-- Sliding log (limit.SlidingLog), mirroring package limit's slidinglog.go.
-- References: Alex Xu, System Design Interview, vol. 1 (2020), ch. 4; Figma Engineering, "An
-- alternative approach to rate limiting" (2017).
--
-- The log holds the time of every unit admitted in the last P = period; a unit logged at s
-- counts while now < s + P. A request of cost n:
--
--   at        = max(now, newest)             (a clock stepping back must not unsort the log)
--   drop the entries at or before at − P
--   admit     iff total + n ≤ requests;  then log n units at `at`
--   remaining = requests − total
--   reset     = newest + P − at              (until the whole log has aged out)
--   retry     = s_k + P − at                 (when denied: s_k is the time of the k-th oldest
--                                             unit, k = total + n − requests, the excess)
--
-- The request's key is a sorted set, one member per unit scored by its µs, so that total is
-- ZCARD (package limit keeps one entry per instant with a count; the admissions are the same).
-- Units logged at the same µs — one request of cost > 1, several requests decided in one script
-- run, or requests from several processes within a µs — are distinct members "<µs>-<i>", i
-- counting the units already logged at that µs, so they all count. The key expires when the
-- newest unit ages out.
local function decide(k, requests, period, capacity, cost, extra)
  local log = KEYS[k + 1]

  local at = now
  local newest = redis.call('ZRANGE', log, -1, -1, 'WITHSCORES')
  if newest[2] then
    at = max(at, tonumber(newest[2]))
  end
  redis.call('ZREMRANGEBYSCORE', log, '-inf', at - period)
  local total = redis.call('ZCARD', log)

  local reset = 0
  if total > 0 then
    reset = tonumber(newest[2]) + period - at
  end
  if cost > requests then
    return impossible(period, requests - total, reset)
  end
  local excess = total + cost - requests
  if excess > 0 then
    local kth = redis.call('ZRANGE', log, excess - 1, excess - 1, 'WITHSCORES')
    return reply(false, requests - total, reset, tonumber(kth[2]) + period - at, 0)
  end

  -- Units already logged at this µs (only possible when it is the newest entry's time).
  local first = 0
  if newest[2] and tonumber(newest[2]) == at then
    first = redis.call('ZCOUNT', log, at, at)
  end
  -- ZADD in chunks: unpack is bounded by the Lua C stack.
  local args = {}
  for i = first, first + cost - 1 do
    args[#args + 1] = at
    args[#args + 1] = string.format('%d-%d', at, i)
    if #args >= 1000 or i == first + cost - 1 then
      redis.call('ZADD', log, unpack(args))
      args = {}
    end
  end
  redis.call('PEXPIRE', log, ttl_ms(period))
  return reply(true, requests - total - cost, period, 0, 0)
end

return decide_all(decide, 1, 4)
