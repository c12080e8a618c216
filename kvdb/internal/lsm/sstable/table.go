// Package sstable writes and reads sorted string tables: immutable files of internal keys
// (format package) in increasing order, the unit an LSM tree flushes memtables into and compacts.
//
// The layout follows LevelDB's table format (leveldb/doc/table_format.md) with small changes:
//
//	data block 0 | trailer
//	...
//	data block n | trailer
//	filter block | trailer    bloom filter over user keys (absent when BloomBitsPerKey = 0)
//	index block  | trailer    last internal key of each data block -> block handle
//	properties   | trailer    counts, key range, seq range, sizes
//	footer (64 bytes)         handles of filter, index, properties; format version; CRC; magic
//
// Every block is followed by a 5-byte trailer: compression type (1 byte) and the CRC-32C of the
// block bytes followed by the type byte. Data and index blocks share one format (block.go): prefix
// compressed entries with restart points. docs/format.md specifies every byte.
package sstable

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/lsm/format"
)

// Compression selects the per-block compression of data and index blocks.
type Compression uint8

// The zero value means the default, Snappy.
const (
	DefaultCompression Compression = iota
	None
	Snappy

	// Longer aliases, as Pebble spells them.
	NoCompression     = None
	SnappyCompression = Snappy
)

// String returns none or snappy.
func (c Compression) String() string {
	switch c {
	case DefaultCompression, Snappy:
		return "snappy"
	case None:
		return "none"
	}
	return fmt.Sprintf("Compression(%d)", uint8(c))
}

// Block type bytes stored in block trailers.
const (
	blockTypeNone   byte = 0
	blockTypeSnappy byte = 1
)

const (
	// TrailerLen is the size of the trailer after each block: type byte + CRC-32C.
	TrailerLen = 5
	// FooterLen is the fixed size of the footer at the end of the file.
	FooterLen = 64
	// FormatVersion is written in the footer; readers reject other versions.
	FormatVersion = 1
	// Magic is the last 8 bytes of every table ("kvdb.sst").
	Magic = "kvdb.sst"

	// maxBlockLen bounds a block's stored or decompressed size, so that a corrupt length can
	// never cause a huge allocation. Real blocks are ~BlockSize, or one oversized entry.
	maxBlockLen = 1 << 30
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// blockHandle locates a block's contents (trailer excluded).
type blockHandle struct {
	offset, length uint64
}

// footer is the decoded fixed-size tail of a table.
type footer struct {
	filter, index, props blockHandle
	version              uint32
}

func (f footer) encode(dst []byte) []byte {
	start := len(dst)
	for _, h := range []blockHandle{f.filter, f.index, f.props} {
		dst = binary.LittleEndian.AppendUint64(dst, h.offset)
		dst = binary.LittleEndian.AppendUint64(dst, h.length)
	}
	dst = binary.LittleEndian.AppendUint32(dst, f.version)
	dst = binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst[start:], crcTable))
	return append(dst, Magic...)
}

func decodeFooter(b []byte) (footer, error) {
	if len(b) != FooterLen {
		return footer{}, corruptf("footer of %d bytes", len(b))
	}
	if string(b[56:]) != Magic {
		return footer{}, corruptf("bad magic %q", b[56:])
	}
	if got, want := crc32.Checksum(b[:52], crcTable), binary.LittleEndian.Uint32(b[52:]); got != want {
		return footer{}, corruptf("footer checksum %08x, want %08x", got, want)
	}
	var f footer
	hs := []*blockHandle{&f.filter, &f.index, &f.props}
	for i, h := range hs {
		h.offset = binary.LittleEndian.Uint64(b[16*i:])
		h.length = binary.LittleEndian.Uint64(b[16*i+8:])
	}
	f.version = binary.LittleEndian.Uint32(b[48:])
	if f.version != FormatVersion {
		return footer{}, corruptf("format version %d, want %d", f.version, FormatVersion)
	}
	return f, nil
}

// Properties describe a table; they are stored in the properties block.
type Properties struct {
	NumEntries, NumDeletions uint64
	Smallest, Largest        []byte // internal keys; nil for an empty table
	SmallestSeq, LargestSeq  uint64
	// DataSize, IndexSize and FilterSize count bytes on disk, trailers included. FileSize is
	// the whole file.
	DataSize, IndexSize, FilterSize, FileSize uint64

	// Additions to the contract, for metrics and `kvctl inspect`.
	NumDataBlocks uint64
	RawKeySize    uint64 // sum of internal key lengths before prefix and block compression
	RawValueSize  uint64 // sum of value lengths before block compression
}

func (p *Properties) encode(dst []byte) []byte {
	for _, v := range []uint64{p.NumEntries, p.NumDeletions, p.SmallestSeq, p.LargestSeq,
		p.DataSize, p.IndexSize, p.FilterSize, p.NumDataBlocks, p.RawKeySize, p.RawValueSize} {
		dst = binary.AppendUvarint(dst, v)
	}
	dst = binary.AppendUvarint(dst, uint64(len(p.Smallest)))
	dst = append(dst, p.Smallest...)
	dst = binary.AppendUvarint(dst, uint64(len(p.Largest)))
	return append(dst, p.Largest...)
}

func decodeProperties(b []byte) (Properties, error) {
	var p Properties
	for _, v := range []*uint64{&p.NumEntries, &p.NumDeletions, &p.SmallestSeq, &p.LargestSeq,
		&p.DataSize, &p.IndexSize, &p.FilterSize, &p.NumDataBlocks, &p.RawKeySize, &p.RawValueSize} {
		x, n := binary.Uvarint(b)
		if n <= 0 {
			return Properties{}, corruptf("properties: bad varint")
		}
		*v, b = x, b[n:]
	}
	for _, k := range []*[]byte{&p.Smallest, &p.Largest} {
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			return Properties{}, corruptf("properties: bad key length")
		}
		if l > 0 {
			*k = append([]byte(nil), b[n:n+int(l)]...)
		}
		b = b[n+int(l):]
	}
	if p.NumEntries > 0 {
		if _, _, _, ok := format.ParseInternalKey(p.Smallest); !ok {
			return Properties{}, corruptf("properties: bad smallest key")
		}
		if _, _, _, ok := format.ParseInternalKey(p.Largest); !ok {
			return Properties{}, corruptf("properties: bad largest key")
		}
	}
	// Trailing bytes are ignored so that later versions can append fields.
	return p, nil
}

func encodeHandle(dst []byte, h blockHandle) []byte {
	dst = binary.AppendUvarint(dst, h.offset)
	return binary.AppendUvarint(dst, h.length)
}

func decodeHandle(b []byte) (blockHandle, error) {
	off, n := binary.Uvarint(b)
	if n <= 0 {
		return blockHandle{}, corruptf("block handle: bad offset")
	}
	l, m := binary.Uvarint(b[n:])
	if m <= 0 {
		return blockHandle{}, corruptf("block handle: bad length")
	}
	if n+m != len(b) {
		return blockHandle{}, corruptf("block handle: %d trailing bytes", len(b)-n-m)
	}
	return blockHandle{offset: off, length: l}, nil
}

// blockChecksum is the CRC-32C of the block contents followed by the type byte.
func blockChecksum(contents []byte, typ byte) uint32 {
	crc := ^crc32.Update(0, crcTable, contents)
	crc = crcTable[byte(crc)^typ] ^ crc>>8 // one more byte, without allocating a slice
	return ^crc
}
