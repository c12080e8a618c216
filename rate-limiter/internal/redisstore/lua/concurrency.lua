-- Concurrency limit (limit.Concurrency), mirroring package limit's concurrency.go.
-- Reference: Paul Tarjan, "Scaling your API with rate limiters", Stripe blog (2017).
--
-- Each admitted request takes a lease of its cost n, valid for P = period, and gives it back
-- with Release; a lease never released (a crashed caller) expires P after it was granted.
--
--   drop the leases with expiry ≤ now
--   admit     iff held + n ≤ requests;  then lease n slots until now + P
--   remaining = requests − held
--   reset     = latest expiry − now          (until every lease has expired)
--   retry     = e_k − now                    (when denied: e_k is the expiry of the k-th slot to
--                                             expire, k = held + n − requests, the excess)
--
-- The request's key is a sorted set, one member per held slot scored by its lease's expiry, so
-- that held is ZCARD. The request's fifth argument is the lease ID, 128 random bits from Go
-- (limit.NewLeaseID), unguessable like the in-memory store's; a lease of n slots holds the
-- members "<id>", "<id>#2" .. "<id>#<n>". The key expires with its latest lease.
local function decide(k, requests, period, capacity, cost, id)
  local set = KEYS[k + 1]

  redis.call('ZREMRANGEBYSCORE', set, '-inf', now)
  local held = redis.call('ZCARD', set)

  local function reset_after()
    local latest = redis.call('ZRANGE', set, -1, -1, 'WITHSCORES')
    if latest[2] then
      return tonumber(latest[2]) - now
    end
    return 0
  end

  if cost > requests then
    return impossible(period, requests - held, reset_after())
  end
  local excess = held + cost - requests
  if excess > 0 then
    local kth = redis.call('ZRANGE', set, excess - 1, excess - 1, 'WITHSCORES')
    return reply(false, requests - held, reset_after(), tonumber(kth[2]) - now, 0)
  end

  local expiry = now + period
  local args = {expiry, id}
  for n = 2, cost do
    args[#args + 1] = expiry
    args[#args + 1] = string.format('%s#%d', id, n)
    if #args >= 1000 then
      redis.call('ZADD', set, unpack(args))
      args = {}
    end
  end
  if #args > 0 then
    redis.call('ZADD', set, unpack(args))
  end

  local reset = reset_after() -- a lease granted under a longer period may outlive this one
  redis.call('PEXPIRE', set, ttl_ms(reset))
  local lease = id
  if cost > 1 then
    lease = string.format('%s*%d', id, cost)
  end
  return reply(true, requests - held - cost, reset, 0, 0, lease)
end

return decide_all(decide, 1, 5)
