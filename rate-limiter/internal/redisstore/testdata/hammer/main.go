// Command hammer is a limiter process for redisstore's multi-process test: it calls Allow on
// one key from many goroutines for a while and prints how many calls were admitted, so that the
// test can add up what several processes sharing one Redis let through.
//
//	hammer -redis redis://127.0.0.1:6379 -prefix test:x: -key k -algorithm gcra -limit 100 -period 1000s
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/limit"
	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/redisstore"
	"github.com/redis/go-redis/v9"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "hammer: %v\n(see -h for the flags)\n", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		url        = flag.String("redis", "redis://127.0.0.1:6379", "Redis URL")
		prefix     = flag.String("prefix", "hammer:", "key prefix shared by the processes")
		key        = flag.String("key", "k", "the limiter key every goroutine asks for")
		algorithm  = flag.String("algorithm", string(limit.GCRA), "algorithm")
		requests   = flag.Int64("limit", 100, "requests per period")
		period     = flag.Duration("period", 1000*time.Second, "period")
		burst      = flag.Int64("burst", 0, "burst (0: the limit)")
		goroutines = flag.Int("goroutines", 16, "concurrent callers")
		duration   = flag.Duration("duration", time.Second, "how long to call")
		startAt    = flag.Int64("start-at", 0, "Unix milliseconds to start at, so that processes start together (0: now)")
		timeout    = flag.Duration("timeout", 2*time.Second, "per-call timeout: long, so that no call ends with an unknown outcome")
	)
	flag.Parse()
	l := limit.Limit{Algorithm: limit.Algorithm(*algorithm), Requests: *requests, Period: *period, Burst: *burst}
	if err := l.Validate(); err != nil {
		return err
	}
	opts, err := redis.ParseURL(*url)
	if err != nil {
		return fmt.Errorf("parse -redis: %w", err)
	}
	client := redis.NewClient(opts)
	defer client.Close()
	store := redisstore.New(client, redisstore.Options{Prefix: *prefix, Timeout: *timeout})
	defer store.Close()
	ctx := context.Background()
	if err := store.Load(ctx); err != nil {
		return err
	}

	if *startAt > 0 {
		time.Sleep(time.Until(time.UnixMilli(*startAt)))
	}
	deadline := time.Now().Add(*duration)
	var admitted, denied atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, *goroutines)
	for range *goroutines {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				d, err := store.Allow(ctx, limit.Request{Key: *key, Limit: l})
				if err != nil {
					errs <- err
					return
				}
				if d.Allowed {
					admitted.Add(1)
				} else {
					denied.Add(1)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := errors.Join(drain(errs)...); err != nil {
		return err
	}
	fmt.Printf("admitted %d denied %d\n", admitted.Load(), denied.Load())
	return nil
}

func drain(errs <-chan error) []error {
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return all
}
