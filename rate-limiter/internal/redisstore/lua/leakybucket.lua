-- Leaky bucket as a meter (limit.LeakyBucket), mirroring package limit's leakybucket.go.
-- Reference: J. S. Turner, IEEE Communications Magazine 24(10), 1986; Wikipedia, "Leaky bucket".
--
-- A bucket of capacity C leaks one unit every T = ⌈period/requests⌉; a request of cost n pours
-- n units in, and is denied (pouring nothing) when they would overflow. The level is counted in
-- µs of draining (one unit = T µs):
--
--   level     = max(0, level − (now − last))
--   admit     iff level + n·T ≤ C·T;  then level += n·T
--   remaining = ⌊(C·T − level) / T⌋
--   reset     = level                        (until empty)
--   retry     = level + n·T − C·T            (when denied: until enough has leaked out)
--
-- The request's key is a string "<level in µs of draining>:<µs of the last admission>". It
-- expires when the bucket is empty: an absent bucket is an empty one.
local function decide(k, requests, period, capacity, cost, extra)
  local iv = emission_interval(requests, period)
  local key = KEYS[k + 1]
  local full = capacity * iv

  local level, last = get_pair(key)
  if level then
    level = max(level - max(now - last, 0), 0)
  else
    level, last = 0, 0
  end

  if cost > capacity then
    return impossible(period, floor((full - level) / iv), level)
  end
  local need = cost * iv
  local over = level + need - full
  if over > 0 then
    return reply(false, floor(max(full - level, 0) / iv), level, over, 0)
  end

  level = level + need
  set_pair(key, level, max(now, last), level)
  return reply(true, floor((full - level) / iv), level, 0, 0)
end

return decide_all(decide, 1, 4)
