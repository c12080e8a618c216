package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// bench is a closed-loop load against a running server: c workers, n operations in all, a mix of
// GETs and PUTs on keys picked at random, with a progress bar on stderr and a summary at the end.
func bench(ctx context.Context, c *client, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	n := fs.Int("n", 100_000, "operations in all")
	workers := fs.Int("c", 16, "concurrent workers")
	size := fs.Int("value", 100, "value size in bytes")
	reads := fs.Float64("reads", 0.5, "fraction of operations that are GETs")
	keys := fs.Int("keys", 100_000, "distinct keys")
	if err := parseInterleaved(fs, args); err != nil {
		return err
	}
	if *n < 1 || *workers < 1 || *keys < 1 || *size < 0 || *reads < 0 || *reads > 1 {
		return fmt.Errorf("bench: -n, -c and -keys must be positive, -value not negative, -reads from 0 to 1")
	}
	c.http = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: *workers}}
	value := bytes.Repeat([]byte("x"), *size)
	var next, done, errs, hits, misses atomic.Int64
	lat := make([][]time.Duration, *workers)
	start := time.Now()
	stop := make(chan struct{})
	var bar sync.WaitGroup
	bar.Go(func() { progress(stderr, &done, int64(*n), start, stop) })
	var wg sync.WaitGroup
	for w := range *workers {
		wg.Go(func() {
			for next.Add(1) <= int64(*n) && ctx.Err() == nil {
				key := fmt.Sprintf("bench/%08d", rand.IntN(*keys))
				t := time.Now()
				var err error
				if rand.Float64() < *reads {
					var res *http.Response
					res, _, err = c.do(ctx, http.MethodGet, keyPath(key), nil, nil)
					switch {
					case err == nil:
						hits.Add(1)
					case res != nil && res.StatusCode == http.StatusNotFound:
						misses.Add(1)
						err = nil
					}
				} else {
					_, _, err = c.do(ctx, http.MethodPut, keyPath(key), bytes.NewReader(value), nil)
				}
				lat[w] = append(lat[w], time.Since(t))
				if err != nil {
					errs.Add(1)
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	close(stop)
	bar.Wait()
	elapsed := time.Since(start)
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) == 0 {
		return ctx.Err()
	}
	q := func(f float64) time.Duration { return all[min(len(all)-1, int(float64(len(all))*f))] }
	fmt.Fprintf(stdout, "%d operations (%.0f%% GET) from %d workers in %s: %.0f ops/s; p50 %s, p99 %s, max %s; %d errors; GET found %d, missing %d\n",
		len(all), *reads*100, *workers, elapsed.Round(time.Millisecond), float64(len(all))/elapsed.Seconds(),
		q(0.5).Round(time.Microsecond), q(0.99).Round(time.Microsecond), all[len(all)-1].Round(time.Microsecond), errs.Load(), hits.Load(), misses.Load())
	if errs.Load() > 0 {
		return fmt.Errorf("%d operations failed", errs.Load())
	}
	return ctx.Err()
}

// progress redraws a bar on w every 200 ms until stop closes.
func progress(w io.Writer, done *atomic.Int64, total int64, start time.Time, stop <-chan struct{}) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	draw := func() {
		d := done.Load()
		const width = 30
		filled := int(float64(width) * float64(d) / float64(total))
		rate := float64(d) / time.Since(start).Seconds()
		fmt.Fprintf(w, "\r[%s%s] %3.0f%% %d/%d %.0f ops/s ", strings.Repeat("#", filled), strings.Repeat(".", width-filled),
			100*float64(d)/float64(total), d, total, rate)
	}
	for {
		select {
		case <-stop:
			draw()
			fmt.Fprintln(w)
			return
		case <-t.C:
			draw()
		}
	}
}
