-- Leaky bucket as a queue (limit.LeakyQueue), mirroring package limit's leakybucket.go.
--
-- A shaper: admitted requests join a FIFO that lets one unit leave every T = ⌈period/requests⌉
-- and are told how long to wait for their turn. The queue is one instant, next: when it will
-- have drained. A request of cost n at now:
--
--   queued    = max(next, now) − now         (the queue's level in µs; the newcomer's wait)
--   admit     iff queued + n·T ≤ C·T;  then next = now + queued + n·T, delay = queued
--   remaining = ⌊(C·T − queued − n·T) / T⌋
--   reset     = queued + n·T                 (until the queue has drained)
--   retry     = queued + n·T − C·T           (when denied)
--
-- Admission is GCRA's (next plays TAT); the difference is that a burst is delayed, not refused.
--
-- The request's key is a string: next in Unix µs; it expires when the queue has drained.
local function decide(k, requests, period, capacity, cost, extra)
  local iv = emission_interval(requests, period)
  local key = KEYS[k + 1]
  local full = capacity * iv

  local queued = 0
  local next_at = redis.call('GET', key)
  if next_at then
    queued = max(tonumber(next_at) - now, 0)
  end

  if cost > capacity then
    return impossible(period, floor((full - queued) / iv), queued)
  end
  local need = cost * iv
  local over = queued + need - full
  if over > 0 then
    return reply(false, floor(max(full - queued, 0) / iv), queued, over, 0)
  end

  redis.call('SET', key, now + queued + need, 'PX', ttl_ms(queued + need))
  return reply(true, floor((full - queued - need) / iv), queued + need, 0, queued)
end

return decide_all(decide, 1, 4)
