package lsm

import "github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/lsm/cache"

// blockCache is what the DB needs from package cache (declared here, where it is used).
type blockCache interface {
	Get(fileNum, offset uint64) ([]byte, bool)
	Set(fileNum, offset uint64, block []byte)
	EvictFile(fileNum uint64)
	Stats() (hits, misses uint64, sizeBytes int64)
}

// newBlockCache returns the block cache shared by every table of one DB.
func newBlockCache(capacityBytes int64) blockCache { return cache.New(capacityBytes) }
