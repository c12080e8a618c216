package redisstore

import (
	_ "embed"

	"github.com/redis/go-redis/v9"
)

// The scripts, one per algorithm. Each starts with lua/prelude.lua (arguments, the Redis clock,
// integer helpers); their header comments give the math they share with package limit.
var (
	//go:embed lua/prelude.lua
	prelude string
	//go:embed lua/tokenbucket.lua
	tokenBucketLua string
	//go:embed lua/leakybucket.lua
	leakyBucketLua string
	//go:embed lua/leakyqueue.lua
	leakyQueueLua string
	//go:embed lua/fixedwindow.lua
	fixedWindowLua string
	//go:embed lua/slidinglog.lua
	slidingLogLua string
	//go:embed lua/slidingwindow.lua
	slidingWindowLua string
	//go:embed lua/gcra.lua
	gcraLua string
	//go:embed lua/concurrency.lua
	concurrencyLua string
	//go:embed lua/release.lua
	releaseLua string
)

type namedScript struct {
	name    string
	script  *redis.Script
	batched bool // decides any number of requests in one run, answering one reply each
}

func decider(name, body string) *namedScript {
	return &namedScript{name: name, script: redis.NewScript(prelude + "\n" + body), batched: true}
}

var (
	tokenBucketScript   = decider("tokenbucket", tokenBucketLua)
	leakyBucketScript   = decider("leakybucket", leakyBucketLua)
	leakyQueueScript    = decider("leakyqueue", leakyQueueLua)
	fixedWindowScript   = decider("fixedwindow", fixedWindowLua)
	slidingLogScript    = decider("slidinglog", slidingLogLua)
	slidingWindowScript = decider("slidingwindow", slidingWindowLua)
	gcraScript          = decider("gcra", gcraLua)
	concurrencyScript   = decider("concurrency", concurrencyLua)
	releaseScript       = &namedScript{name: "release", script: redis.NewScript(releaseLua)}

	allScripts = []*namedScript{
		tokenBucketScript, leakyBucketScript, leakyQueueScript, fixedWindowScript,
		slidingLogScript, slidingWindowScript, gcraScript, concurrencyScript, releaseScript,
	}
)
