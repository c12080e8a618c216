-- Fixed window counter (limit.FixedWindow), mirroring package limit's fixedwindow.go.
-- Reference: Alex Xu, System Design Interview, vol. 1 (2020), ch. 4.
--
-- Windows of length P = period aligned to multiples of P since the Unix epoch, so every process
-- agrees on them; each counts the units admitted in it. A request of cost n:
--
--   start     = ⌊now/P⌋·P  (a clock stepping back keeps counting in the stored, later window)
--   admit     iff count + n ≤ requests;  then count += n
--   remaining = requests − count
--   reset     = start + P − now              (until the window ends)
--   retry     = reset                        (when denied: the next window starts empty)
--
-- The request's key is a string "<window start in µs>:<count>"; it expires when the window
-- ends.
local function decide(k, requests, period, capacity, cost, extra)
  local key = KEYS[k + 1]
  local start = floor(now / period) * period

  local count = 0
  local stored, n = get_pair(key)
  if stored == start then
    count = n
  elseif stored and stored > start then
    start, count = stored, n
  end
  local reset = start + period - now

  if cost > requests then
    return impossible(period, requests - count, reset)
  end
  if count + cost > requests then
    return reply(false, requests - count, reset, reset, 0)
  end

  count = count + cost
  set_pair(key, start, count, reset)
  return reply(true, requests - count, reset, 0, 0)
end

return decide_all(decide, 1, 4)
