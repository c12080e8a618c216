-- GCRA, the generic cell rate algorithm (limit.GCRA), mirroring package limit's gcra.go.
-- References: ATM Forum Traffic Management 4.0 (1996); Brandur Leach, "Rate limiting, cells,
-- and GCRA" (2015).
--
-- One stored time per key, the theoretical arrival time TAT: when the key is back to full
-- capacity. With T = ⌈period/requests⌉ µs and capacity C, a request of cost n at now:
--
--   debt      = max(TAT, now) − now           (how far from full the key is)
--   admit     iff debt + n·T ≤ C·T;  then TAT = now + debt + n·T
--   remaining = ⌊(C·T − debt) / T⌋
--   reset     = debt
--   retry     = debt + n·T − C·T             (when denied: allow_at − now)
--
-- Identical, to the µs, to the token bucket of C tokens refilled one per T (tokenbucket.lua).
--
-- The request's key is a string: TAT in Unix µs. It expires at TAT: from then on
-- max(TAT, now) = now, as for a fresh key.
local function decide(k, requests, period, capacity, cost, extra)
  local iv = emission_interval(requests, period)
  local key = KEYS[k + 1]
  local full = capacity * iv

  local debt = 0
  local tat = redis.call('GET', key)
  if tat then
    debt = max(tonumber(tat) - now, 0)
  end

  if cost > capacity then
    return impossible(period, floor((full - debt) / iv), debt)
  end
  local need = cost * iv
  local wait = debt + need - full
  if wait > 0 then
    return reply(false, floor(max(full - debt, 0) / iv), debt, wait, 0)
  end

  debt = debt + need
  redis.call('SET', key, now + debt, 'PX', ttl_ms(debt))
  return reply(true, floor((full - debt) / iv), debt, 0, 0)
end

return decide_all(decide, 1, 4)
