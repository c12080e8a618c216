-- Release of a Concurrency lease: remove the slots it holds (see concurrency.lua). An unknown or
-- expired lease removes nothing. KEYS[1] the leases' sorted set; ARGV the lease's members.
return redis.call('ZREM', KEYS[1], unpack(ARGV))
