-- Token bucket (limit.TokenBucket), mirroring package limit's tokenbucket.go line by line.
--
-- A bucket holds at most C = capacity tokens and gains one every T = ⌈period/requests⌉; a
-- request of cost n takes n tokens if the bucket holds them, and nothing otherwise. Tokens are
-- counted in µs of refill (one token = T µs), so the lazy refill is an integer addition:
--
--   tokens    = min(C·T, tokens + (now − last))
--   admit     iff tokens ≥ n·T;  then tokens −= n·T
--   remaining = ⌊tokens / T⌋
--   reset     = C·T − tokens                 (until full again)
--   retry     = n·T − tokens                 (when denied: the missing tokens' refill time)
--
-- The request's key is a string "<tokens in µs of refill>:<µs of the last admission>". It
-- expires when the bucket is full again: an absent bucket is a full one.
local function decide(k, requests, period, capacity, cost, extra)
  local iv = emission_interval(requests, period)
  local key = KEYS[k + 1]
  local full = capacity * iv

  local tokens, last = get_pair(key)
  if tokens then
    tokens = max(0, min(full, tokens + max(now - last, 0)))
  else
    tokens, last = full, 0
  end

  if cost > capacity then
    return impossible(period, floor(tokens / iv), full - tokens)
  end
  local need = cost * iv
  if tokens < need then
    return reply(false, floor(tokens / iv), full - tokens, need - tokens, 0)
  end

  tokens = tokens - need
  set_pair(key, tokens, max(now, last), full - tokens) -- a clock stepping back refills nothing
  return reply(true, floor(tokens / iv), full - tokens, 0, 0)
end

return decide_all(decide, 1, 4)
