// Package lsm is kvdb's storage engine: a log-structured merge tree (O'Neil, Cheng, Gawlick,
// O'Neil, "The Log-Structured Merge-Tree", Acta Informatica 1996) in the style of LevelDB and
// Bigtable's tablet servers (Chang et al., OSDI 2006), with leveled compaction.
//
// A write is appended to the write-ahead log, then inserted into an in-memory sorted table (the
// memtable). A full memtable is frozen and flushed to an immutable sorted file (an SSTable) in
// level 0; background compactions merge tables down the levels, dropping overwritten and deleted
// data. A read looks in the memtables, then in the tables from newest to oldest. Every write has
// a sequence number, so a snapshot is just a number and nothing is ever updated in place.
//
// Where to find each algorithm:
//
//	batch.go         batch encoding: the unit of atomicity and the WAL payload
//	commit.go        commit pipeline: writer queue, group commit, conditions, write stalls
//	memtable.go      arena skiplist: one writer, lock-free readers
//	merge.go         k-way merging iterator (heap)
//	iterator.go      user iterators: versions, tombstones, TTL, bounds; level iterator
//	snapshot.go      snapshots as sequence numbers
//	db.go            Open/recovery, the lock-free read path (Get), Close
//	flush.go         memtable → L0 table
//	compaction.go    leveled compaction: scores, picking, merging, drop rules, trivial moves
//	version.go       versions: ref-counted table sets, obsolete file deletion
//	version_edit.go  MANIFEST records (docs/format.md §4)
//	manifest.go      MANIFEST files, logAndApply
//	tablecache.go    bounded cache of open table readers (CLOCK)
//	ratelimit.go     token bucket for compaction writes
//	files.go         file names, CURRENT, the LOCK file
//	metrics.go       Metrics and the Prometheus collector
//
// The on-disk pieces live in sub-packages: format (internal keys), wal, sstable and cache.
package lsm
