// Command kvdb is the single-node key-value server: the LSM engine (internal/lsm) behind an HTTP
// API and a Redis-protocol (RESP2) listener, so curl, redis-cli and redis-benchmark all work
// against it. Data lives in DATA_DIR; with no settings it runs on ./.data/kvdb.
package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/api"
	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/kv"
	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/lsm"
	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/lsm/wal"
	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/resp"
	"github.com/hyperscaledesignhub/DesignSystems/shared/boot"
	"github.com/hyperscaledesignhub/DesignSystems/shared/httpx"
)

var version = "dev" // set with -ldflags "-X main.version=..."

// Config is every setting, from the environment; the defaults run with no external service.
type Config struct {
	HTTPAddr         string        `env:"HTTP_ADDR" envDefault:":8200"`
	RESPAddr         string        `env:"RESP_ADDR" envDefault:":8201"` // empty: no RESP listener
	RESPPassword     string        `env:"RESP_PASSWORD"`                // empty: no AUTH required
	DataDir          string        `env:"DATA_DIR" envDefault:"./.data/kvdb"`
	Sync             string        `env:"SYNC" envDefault:"group"` // always | group | none
	SyncWindow       time.Duration `env:"SYNC_WINDOW" envDefault:"2ms"`
	MemtableMB       int           `env:"MEMTABLE_MB" envDefault:"8"`
	BlockCacheMB     int           `env:"BLOCK_CACHE_MB" envDefault:"64"`
	CompactionRateMB int           `env:"COMPACTION_RATE_MB" envDefault:"0"` // MB/s; 0: unlimited
	MaxValueBytes    int           `env:"MAX_VALUE_BYTES" envDefault:"1048576"`
	ShutdownTimeout  time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"20s"`
}

// Validate checks what the types cannot.
func (c *Config) Validate() error {
	if _, err := wal.ParseSyncPolicy(c.Sync); err != nil {
		return fmt.Errorf("SYNC: %w", err)
	}
	switch {
	case c.DataDir == "":
		return errors.New("DATA_DIR must not be empty")
	case c.MemtableMB < 1:
		return errors.New("MEMTABLE_MB must be at least 1")
	case c.BlockCacheMB < 0 || c.CompactionRateMB < 0:
		return errors.New("BLOCK_CACHE_MB and COMPACTION_RATE_MB must not be negative")
	case c.MaxValueBytes < 1 || c.MaxValueBytes > 64<<20:
		return errors.New("MAX_VALUE_BYTES must be from 1 to 67108864 (64 MiB)")
	case c.SyncWindow <= 0:
		return errors.New("SYNC_WINDOW must be positive")
	}
	return nil
}

func main() { boot.Main("kvdb", version, "kvdb/README.md", run) }

func run(ctx context.Context, s *boot.Service[Config]) error {
	cfg, logger, tel := s.Config, s.Logger, s.Telemetry
	policy, _ := wal.ParseSyncPolicy(cfg.Sync) // validated
	start := time.Now()
	db, err := lsm.Open(cfg.DataDir, lsm.Options{
		Sync: policy, GroupWindow: cfg.SyncWindow,
		MemtableSize:   int64(cfg.MemtableMB) << 20,
		BlockCacheSize: int64(cfg.BlockCacheMB) << 20,
		CompactionRate: int64(cfg.CompactionRateMB) << 20,
		Logger:         logger, Registerer: tel.Registry,
	})
	if err != nil {
		return fmt.Errorf("open the store in %s (DATA_DIR): %w", cfg.DataDir, err)
	}
	m := db.Metrics()
	logger.Info("store open", "dir", cfg.DataDir, "sync", cfg.Sync, "recovered_in", time.Since(start).Round(time.Millisecond).String(),
		"last_seq", m.VisibleSeq, "switch", "DATA_DIR")
	// Closed last, after both listeners have drained: Close flushes nothing it has not logged,
	// and syncs the WAL, so every acknowledged write survives the restart.
	defer func() {
		if err := db.Close(); err != nil {
			logger.Error("closing the store", "err", err)
		}
	}()
	store := kv.New(db, cfg.MaxValueBytes, nil)

	srv, err := httpx.New(httpx.Options{Addr: cfg.HTTPAddr, Logger: logger, Telemetry: tel,
		ShutdownTimeout: cfg.ShutdownTimeout,
		// A batch carries base64 values (4/3 of their size) and JSON around them.
		MaxBodyBytes: int64(cfg.MaxValueBytes)*2 + 1<<20})
	if err != nil {
		return err
	}
	(&api.HTTP{Store: store, Logger: logger, MaxValue: int64(cfg.MaxValueBytes)}).Register(srv)

	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Run(ctx) })
	if cfg.RESPAddr != "" {
		rs, err := resp.New(kv.RESP{S: store}, resp.Options{Addr: cfg.RESPAddr, Logger: logger,
			MaxBulk: cfg.MaxValueBytes, Registerer: tel.Registry, ShutdownTimeout: cfg.ShutdownTimeout,
			Password: cfg.RESPPassword})
		if err != nil {
			return err
		}
		g.Go(func() error { return rs.ListenAndServe(ctx) })
	}
	if err := g.Wait(); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	logger.Info("stopped")
	return nil
}
