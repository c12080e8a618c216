package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hyperscaledesignhub/DesignSystems/shared/loadgen"
	"github.com/hyperscaledesignhub/DesignSystems/shared/proc"
)

// kvdbLoad drives the real kvdb binary over HTTP, open loop: 100k keys preloaded, then a 50/50
// mix of GET and PUT (100-byte values) on random keys — once with SYNC=group (the default) and
// once with SYNC=always, so the report shows what durability per write costs.
func kvdbLoad(ctx context.Context, p Params) ([]*loadgen.Result, error) {
	dir, err := os.MkdirTemp("", "loadtest-kvdb-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	bin, err := build(ctx, "./kvdb/cmd/kvdb", dir)
	if err != nil {
		return nil, err
	}
	var results []*loadgen.Result
	for _, sync := range []string{"group", "always"} {
		r, err := loadKVDB(ctx, bin, filepath.Join(dir, sync), sync, p)
		if err != nil {
			return nil, err
		}
		results = append(results, r)
	}
	return results, nil
}

const kvdbKeys = 100_000

func loadKVDB(ctx context.Context, bin, dataDir, sync string, p Params) (*loadgen.Result, error) {
	port, err := proc.FreePort()
	if err != nil {
		return nil, err
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	srv, err := proc.Start("kvdb", bin, nil, []string{fmt.Sprintf("HTTP_ADDR=127.0.0.1:%d", port), "RESP_ADDR=",
		"DATA_DIR=" + dataDir, "SYNC=" + sync, "LOG_LEVEL=warn"}, nil)
	if err != nil {
		return nil, err
	}
	defer func() { _ = srv.Stop(10 * time.Second) }()
	if err := srv.WaitReady(ctx, base+"/readyz"); err != nil {
		return nil, err
	}
	value := strings.Repeat("v", 100)
	if p.Progress != nil {
		fmt.Fprintf(p.Progress, "kvdb (SYNC=%s): preloading %d keys\n", sync, kvdbKeys)
	}
	for b := 0; b < kvdbKeys; b += 1000 {
		var body strings.Builder
		body.WriteString(`{"ops":[`)
		for i := b; i < b+1000; i++ {
			if i > b {
				body.WriteByte(',')
			}
			fmt.Fprintf(&body, `{"op":"put","key":"k%06d","value":"dmFsdWU="}`, i)
		}
		body.WriteString(`]}`)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/batch", strings.NewReader(body.String()))
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("preload: status %d", res.StatusCode)
		}
	}
	target := httpTarget(func(ctx context.Context) (*http.Request, error) {
		url := fmt.Sprintf("%s/v1/kv/k%06d", base, rand.IntN(kvdbKeys))
		if rand.IntN(2) == 0 {
			return http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		}
		return http.NewRequestWithContext(ctx, http.MethodPut, url, bytes.NewBufferString(value))
	})
	return loadgen.Run(ctx, loadgen.Config{Name: "kvdb 50/50 GET/PUT over HTTP (SYNC=" + sync + ")", Rate: p.Rate,
		Duration: p.Duration, Warmup: time.Second, Timeout: 5 * time.Second, Progress: p.Progress}, target)
}
