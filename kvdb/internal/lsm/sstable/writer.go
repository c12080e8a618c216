package sstable

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/golang/snappy"

	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/lsm/format"
)

// Defaults for WriterOptions.
const (
	DefaultBlockSize       = 4096
	DefaultRestartInterval = 16
	// DefaultBloomBitsPerKey is the filter budget the DB uses by default. In WriterOptions a
	// zero BloomBitsPerKey means no filter, so callers pass this value explicitly.
	DefaultBloomBitsPerKey = 10
)

// WriterOptions configure a table Writer. Zero fields take the defaults, except
// BloomBitsPerKey, where 0 means no filter.
type WriterOptions struct {
	BlockSize       int         // default 4096
	RestartInterval int         // default 16
	BloomBitsPerKey int         // 0 = no filter; DefaultBloomBitsPerKey is 10
	Compression     Compression // None or Snappy (default Snappy)
}

// ErrOutOfOrder is returned by Add when a key is not strictly greater than the previous one.
var ErrOutOfOrder = errors.New("sstable: keys out of order")

// Writer builds a table by streaming sorted entries to f. It is not safe for concurrent use.
type Writer struct {
	bw     *bufio.Writer
	opts   WriterOptions
	offset uint64

	block      blockBuilder
	index      blockBuilder
	bloom      *bloomBuilder
	lastKey    []byte
	compressed []byte
	scratch    []byte
	trailer    [TrailerLen]byte // a field, not a local: passing a local array to Write allocates
	props      Properties
	err        error
	finished   bool
}

// NewWriter returns a Writer that writes a table to f. The caller syncs and closes f after Finish.
func NewWriter(f io.Writer, opts WriterOptions) *Writer {
	if opts.BlockSize <= 0 {
		opts.BlockSize = DefaultBlockSize
	}
	if opts.RestartInterval <= 0 {
		opts.RestartInterval = DefaultRestartInterval
	}
	if opts.Compression == DefaultCompression {
		opts.Compression = Snappy
	}
	w := &Writer{
		bw:    bufio.NewWriterSize(f, 256<<10),
		opts:  opts,
		block: blockBuilder{restartInterval: opts.RestartInterval},
		// Every index entry is a restart point: the reader decodes the index once at Open.
		index: blockBuilder{restartInterval: 1},
	}
	if opts.BloomBitsPerKey > 0 {
		w.bloom = &bloomBuilder{bitsPerKey: opts.BloomBitsPerKey}
	}
	return w
}

// Add appends an entry. Keys must be valid internal keys in strictly increasing
// format.CompareInternal order.
func (w *Writer) Add(ikey, value []byte) error {
	if w.err != nil {
		return w.err
	}
	if w.finished {
		return errors.New("sstable: add after finish")
	}
	userKey, seq, kind, ok := format.ParseInternalKey(ikey)
	if !ok {
		return fmt.Errorf("add key %q: not an internal key", ikey)
	}
	if w.props.NumEntries > 0 {
		if format.CompareInternal(w.lastKey, ikey) >= 0 {
			return fmt.Errorf("add key %q after %q: %w", ikey, w.lastKey, ErrOutOfOrder)
		}
		if w.bloom != nil && !bytes.Equal(format.UserKey(w.lastKey), userKey) {
			w.bloom.add(userKey)
		}
	} else {
		w.props.Smallest = append([]byte(nil), ikey...)
		w.props.SmallestSeq, w.props.LargestSeq = seq, seq
		if w.bloom != nil {
			w.bloom.add(userKey)
		}
	}
	w.props.NumEntries++
	if kind == format.KindDelete {
		w.props.NumDeletions++
	}
	w.props.SmallestSeq = min(w.props.SmallestSeq, seq)
	w.props.LargestSeq = max(w.props.LargestSeq, seq)
	w.props.RawKeySize += uint64(len(ikey))
	w.props.RawValueSize += uint64(len(value))
	w.lastKey = append(w.lastKey[:0], ikey...)

	w.block.add(ikey, value)
	if w.block.estimatedSize() >= w.opts.BlockSize {
		w.flushBlock()
	}
	return w.err
}

// EstimatedSize returns the approximate size of the file if Finish were called now.
func (w *Writer) EstimatedSize() uint64 {
	size := w.offset + uint64(w.block.estimatedSize()) + uint64(w.index.estimatedSize()) + FooterLen
	if w.bloom != nil {
		size += uint64(len(w.bloom.hashes)*w.bloom.bitsPerKey/8) + 1
	}
	return size
}

func (w *Writer) flushBlock() {
	if w.block.empty() {
		return
	}
	h := w.writeBlock(w.block.finish(), true)
	w.scratch = encodeHandle(w.scratch[:0], h)
	w.index.add(w.block.lastKey, w.scratch)
	w.props.NumDataBlocks++
	w.block.reset()
}

// writeBlock writes contents and its trailer, compressing when allowed and worth it.
func (w *Writer) writeBlock(contents []byte, compress bool) blockHandle {
	typ := blockTypeNone
	out := contents
	if compress && w.opts.Compression == Snappy {
		c := snappy.Encode(w.compressed[:cap(w.compressed)], contents)
		w.compressed = c[:0]
		// Keep the compressed form only if it saves at least 12.5%: decompression costs CPU on
		// every cache miss.
		if len(c) < len(contents)-len(contents)/8 {
			out, typ = c, blockTypeSnappy
		}
	}
	trailer := w.trailer[:]
	trailer[0] = typ
	binary.LittleEndian.PutUint32(trailer[1:], blockChecksum(out, typ))
	h := blockHandle{offset: w.offset, length: uint64(len(out))}
	if w.err == nil {
		if _, err := w.bw.Write(out); err != nil {
			w.err = fmt.Errorf("write sstable block: %w", err)
		} else if _, err := w.bw.Write(trailer); err != nil {
			w.err = fmt.Errorf("write sstable block: %w", err)
		}
	}
	w.offset += uint64(len(out)) + TrailerLen
	return h
}

// Finish writes the last data block, the filter, index and properties blocks and the footer,
// and flushes everything to the underlying writer. It returns the table's properties.
func (w *Writer) Finish() (Properties, error) {
	if w.err != nil {
		return Properties{}, w.err
	}
	if w.finished {
		return Properties{}, errors.New("sstable: finish called twice")
	}
	w.finished = true
	w.flushBlock()
	w.props.DataSize = w.offset

	var ft footer
	ft.version = FormatVersion
	if w.bloom != nil {
		start := w.offset
		ft.filter = w.writeBlock(w.bloom.finish(w.scratch[:0]), false)
		w.props.FilterSize = w.offset - start
	}
	start := w.offset
	ft.index = w.writeBlock(w.index.finish(), true)
	w.props.IndexSize = w.offset - start
	if w.props.NumEntries > 0 {
		w.props.Largest = append([]byte(nil), w.lastKey...)
	}
	ft.props = w.writeBlock(w.props.encode(nil), false)
	w.props.FileSize = w.offset + FooterLen
	if w.err == nil {
		if _, err := w.bw.Write(ft.encode(nil)); err != nil {
			w.err = fmt.Errorf("write sstable footer: %w", err)
		}
	}
	if w.err == nil {
		if err := w.bw.Flush(); err != nil {
			w.err = fmt.Errorf("flush sstable: %w", err)
		}
	}
	if w.err != nil {
		return Properties{}, w.err
	}
	return w.props, nil
}
