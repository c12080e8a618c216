-- Sliding window counter (limit.SlidingWindow), mirroring package limit's slidingwindow.go.
-- Reference: Julien Desgats, "How we built rate limiting capable of scaling to millions of
-- domains", The Cloudflare Blog (2017).
--
-- Two fixed-window counters (windows of length P aligned to the epoch), the current window's
-- and the previous one's. At elapsed = now − start, the units admitted in the last P are
-- estimated as prev·(P − elapsed)/P + cur, compared exactly in integers (× P):
--
--   admit     iff prev·(P − elapsed) + (cur + n)·P ≤ requests·P;  then cur += n
--   remaining = requests − cur − ⌈prev·(P − elapsed)/P⌉
--   reset     = start + 2P − now if cur > 0, start + P − now if prev > 0, else 0
--                                            (until both counters weigh nothing)
--   retry     = (when denied, the first instant the estimate leaves room, nothing else admitted)
--               room = requests − cur − n ≥ 0:  P − ⌊room·P/prev⌋ − elapsed   (this window)
--               otherwise:  P − elapsed + P − ⌊(requests − n)·P/cur⌋           (the next one)
--
-- The products stay exact while requests × P (in µs) < 2^53, e.g. 100,000 per day; package
-- limit uses 128-bit integers, beyond that the estimate here is off by a rounding error.
--
-- The request's two keys are strings "<window start in µs>:<count>" for the even and odd
-- windows, read with one MGET: the current window's counter is the first when the window's
-- number is even, and the other one is the previous window's when its start says so. A counter
-- expires a period after its window ends, when it stops weighing.
local function parse(v)
  if not v then
    return nil, 0
  end
  local w, n = string.match(v, '^(-?%d+):(-?%d+)$')
  return tonumber(w), tonumber(n)
end

local function decide(k, requests, period, capacity, cost, extra)
  local both = redis.call('MGET', KEYS[k + 1], KEYS[k + 2])
  local w1, n1 = parse(both[1])
  local w2, n2 = parse(both[2])

  -- A clock stepping back into an earlier window keeps counting in the stored, later one.
  local start = floor(now / period) * period
  start = max(start, w1 or start, w2 or start)
  local elapsed = min(max(now - start, 0), period - 1)
  local left = period - elapsed

  local function count_at(w)
    if w1 == w then return n1 end
    if w2 == w then return n2 end
    return 0
  end
  local cur = count_at(start)
  local prev = count_at(start - period)

  local function reset_after(c)
    if c > 0 then return start + 2 * period - now end
    if prev > 0 then return start + period - now end
    return 0
  end
  local weighted = ceil(prev * left / period)

  if cost > requests then
    return impossible(period, requests - cur - weighted, reset_after(cur))
  end
  if prev * left + (cur + cost) * period > requests * period then
    local retry
    local room = requests - cur - cost
    if room >= 0 and prev > 0 then
      retry = period - floor(room * period / prev) - elapsed
    else
      retry = period - elapsed + period - floor((requests - cost) * period / cur)
    end
    return reply(false, requests - cur - weighted, reset_after(cur), retry, 0)
  end

  cur = cur + cost
  local reset = reset_after(cur)
  set_pair(KEYS[k + 1 + floor(start / period) % 2], start, cur, reset)
  return reply(true, requests - cur - weighted, reset, 0, 0)
end

return decide_all(decide, 2, 4)
