package lsm

// Metrics: counters kept with atomics on the hot paths, read by Metrics() and, when
// Options.Registerer is set, exported to Prometheus by a collector that reads Metrics() at
// scrape time (so there is one source of truth and no double bookkeeping).

import (
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type dbMetrics struct {
	stalls, stallNanos                    atomic.Uint64
	flushes, flushBytes                   atomic.Uint64
	compactions, trivialMoves             atomic.Uint64
	compactBytesRead, compactBytesWritten atomic.Uint64
	walSyncs, walSyncNanos                atomic.Uint64
	writes, commitGroups                  atomic.Uint64
	tablesDeleted                         atomic.Uint64
	// walSync is the fsync latency distribution: a durable write waits for one, so its p99 is
	// the write path's floor (the counters above give only the mean).
	walSync prometheus.Histogram
}

func newDBMetrics() dbMetrics {
	return dbMetrics{walSync: prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "kvdb_wal_sync_duration_seconds", Help: "WAL fsync latency.",
		Buckets: prometheus.ExponentialBuckets(50e-6, 2, 14), // 50 µs … 0.4 s
	})}
}

func (m *dbMetrics) observeSync(d time.Duration) {
	m.walSyncs.Add(1)
	m.walSyncNanos.Add(uint64(d))
	m.walSync.Observe(d.Seconds())
}

// LevelMetrics describe one level of the tree.
type LevelMetrics struct {
	Tables int
	Bytes  int64
	Score  float64 // compaction score; >= 1 means the level is due for compaction
}

// Metrics is a point-in-time view of the DB's counters and shape.
type Metrics struct {
	WriteStalls       uint64  // times a commit had to wait for a flush or L0 compaction
	WriteStallSeconds float64 // total time spent stalled

	Writes       uint64 // operations committed
	CommitGroups uint64 // WAL records written: Writes/CommitGroups is the group-commit batching

	Flushes           uint64 // memtables written to L0 (including at recovery)
	FlushBytesWritten uint64

	Compactions            uint64 // merging compactions run
	TrivialMoves           uint64 // compactions done by moving tables without rewriting them
	CompactionBytesRead    uint64
	CompactionBytesWritten uint64
	TablesDeleted          uint64

	CacheHits, CacheMisses uint64
	CacheBytes             int64

	BloomChecks, BloomNegatives, BloomFalsePositives uint64

	WALSyncs       uint64
	WALSyncSeconds float64

	Levels             [NumLevels]LevelMetrics
	MemtableBytes      int64 // mutable + immutable memtables
	ImmutableMemtables int
	OpenTables         int // readers in the table cache
	Snapshots          int
	VisibleSeq         uint64
	ReadOnly           bool // a background failure stopped writes (see DB.Err)
}

// Metrics returns the current metrics.
func (db *DB) Metrics() Metrics {
	m := &db.m
	out := Metrics{
		WriteStalls:            m.stalls.Load(),
		WriteStallSeconds:      time.Duration(m.stallNanos.Load()).Seconds(),
		Writes:                 m.writes.Load(),
		CommitGroups:           m.commitGroups.Load(),
		Flushes:                m.flushes.Load(),
		FlushBytesWritten:      m.flushBytes.Load(),
		Compactions:            m.compactions.Load(),
		TrivialMoves:           m.trivialMoves.Load(),
		CompactionBytesRead:    m.compactBytesRead.Load(),
		CompactionBytesWritten: m.compactBytesWritten.Load(),
		TablesDeleted:          m.tablesDeleted.Load(),
		WALSyncs:               m.walSyncs.Load(),
		WALSyncSeconds:         time.Duration(m.walSyncNanos.Load()).Seconds(),
		VisibleSeq:             db.visibleSeq.Load(),
		ReadOnly:               db.failed.Load(),
	}
	out.CacheHits, out.CacheMisses, out.CacheBytes = db.cache.Stats()
	out.BloomChecks, out.BloomNegatives, out.BloomFalsePositives = db.tables.filterStats()
	out.OpenTables = db.tables.open()
	if s := db.state.Load(); s != nil {
		out.MemtableBytes = s.mem.size()
		for _, im := range s.imm {
			out.MemtableBytes += im.size()
		}
		out.ImmutableMemtables = len(s.imm)
	}
	db.mu.Lock()
	v := db.current
	scores := db.scores(v)
	for l := range v.levels {
		out.Levels[l] = LevelMetrics{Tables: len(v.levels[l]), Bytes: levelBytes(v.levels[l]), Score: scores[l]}
	}
	db.mu.Unlock()
	db.snapMu.Lock()
	out.Snapshots = db.snapshots.n
	db.snapMu.Unlock()
	return out
}

// collector exports Metrics() to Prometheus under the kvdb_ prefix.
type collector struct {
	db    *DB
	descs map[string]*prometheus.Desc
}

type metricDef struct {
	name, help string
	typ        prometheus.ValueType
	value      func(*Metrics) float64
}

var metricDefs = []metricDef{
	{"kvdb_write_stalls_total", "Commits that waited for a flush or L0 compaction.", prometheus.CounterValue, func(m *Metrics) float64 { return float64(m.WriteStalls) }},
	{"kvdb_write_stall_seconds_total", "Time commits spent stalled.", prometheus.CounterValue, func(m *Metrics) float64 { return m.WriteStallSeconds }},
	{"kvdb_writes_total", "Write operations committed.", prometheus.CounterValue, func(m *Metrics) float64 { return float64(m.Writes) }},
	{"kvdb_commit_groups_total", "WAL records written by the commit pipeline (one per group).", prometheus.CounterValue, func(m *Metrics) float64 { return float64(m.CommitGroups) }},
	{"kvdb_flushes_total", "Memtables flushed to L0.", prometheus.CounterValue, func(m *Metrics) float64 { return float64(m.Flushes) }},
	{"kvdb_flush_written_bytes_total", "Bytes written by flushes.", prometheus.CounterValue, func(m *Metrics) float64 { return float64(m.FlushBytesWritten) }},
	{"kvdb_compactions_total", "Merging compactions run.", prometheus.CounterValue, func(m *Metrics) float64 { return float64(m.Compactions) }},
	{"kvdb_compaction_trivial_moves_total", "Compactions done by moving tables.", prometheus.CounterValue, func(m *Metrics) float64 { return float64(m.TrivialMoves) }},
	{"kvdb_compaction_read_bytes_total", "Bytes read by compactions.", prometheus.CounterValue, func(m *Metrics) float64 { return float64(m.CompactionBytesRead) }},
	{"kvdb_compaction_written_bytes_total", "Bytes written by compactions.", prometheus.CounterValue, func(m *Metrics) float64 { return float64(m.CompactionBytesWritten) }},
	{"kvdb_block_cache_hits_total", "Block cache hits.", prometheus.CounterValue, func(m *Metrics) float64 { return float64(m.CacheHits) }},
	{"kvdb_block_cache_misses_total", "Block cache misses.", prometheus.CounterValue, func(m *Metrics) float64 { return float64(m.CacheMisses) }},
	{"kvdb_block_cache_size_bytes", "Bytes held by the block cache.", prometheus.GaugeValue, func(m *Metrics) float64 { return float64(m.CacheBytes) }},
	{"kvdb_bloom_checks_total", "Bloom filter checks.", prometheus.CounterValue, func(m *Metrics) float64 { return float64(m.BloomChecks) }},
	{"kvdb_bloom_negatives_total", "Bloom filter checks that ruled a table out.", prometheus.CounterValue, func(m *Metrics) float64 { return float64(m.BloomNegatives) }},
	{"kvdb_bloom_false_positives_total", "Bloom filter checks that said maybe for an absent key.", prometheus.CounterValue, func(m *Metrics) float64 { return float64(m.BloomFalsePositives) }},
	{"kvdb_memtable_size_bytes", "Bytes in the mutable and immutable memtables.", prometheus.GaugeValue, func(m *Metrics) float64 { return float64(m.MemtableBytes) }},
	{"kvdb_open_tables", "Table readers held open by the table cache.", prometheus.GaugeValue, func(m *Metrics) float64 { return float64(m.OpenTables) }},
	{"kvdb_snapshots", "Open snapshots.", prometheus.GaugeValue, func(m *Metrics) float64 { return float64(m.Snapshots) }},
	{"kvdb_engine_read_only", "1 when a background failure (flush, compaction, MANIFEST or WAL write) made the engine refuse writes; only a restart clears it.", prometheus.GaugeValue, func(m *Metrics) float64 {
		if m.ReadOnly {
			return 1
		}
		return 0
	}},
}

func newCollector(db *DB) *collector {
	c := &collector{db: db, descs: make(map[string]*prometheus.Desc)}
	for _, d := range metricDefs {
		c.descs[d.name] = prometheus.NewDesc(d.name, d.help, nil, nil)
	}
	c.descs["kvdb_level_tables"] = prometheus.NewDesc("kvdb_level_tables", "Tables per level.", []string{"level"}, nil)
	c.descs["kvdb_level_size_bytes"] = prometheus.NewDesc("kvdb_level_size_bytes", "Bytes per level.", []string{"level"}, nil)
	return c
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
	c.db.m.walSync.Describe(ch)
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	c.db.m.walSync.Collect(ch)
	m := c.db.Metrics()
	for _, d := range metricDefs {
		ch <- prometheus.MustNewConstMetric(c.descs[d.name], d.typ, d.value(&m))
	}
	for l, lm := range m.Levels {
		level := strconv.Itoa(l)
		ch <- prometheus.MustNewConstMetric(c.descs["kvdb_level_tables"], prometheus.GaugeValue, float64(lm.Tables), level)
		ch <- prometheus.MustNewConstMetric(c.descs["kvdb_level_size_bytes"], prometheus.GaugeValue, float64(lm.Bytes), level)
	}
}
