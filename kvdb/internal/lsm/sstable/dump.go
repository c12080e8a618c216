package sstable

import (
	"fmt"
	"io"
	"strconv"

	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/lsm/format"
)

// dumpValueMax is how many value bytes Dump prints before eliding the rest.
const dumpValueMax = 32

// Dump writes a human-readable description of the table in f: footer, properties, index entries
// and every data block with its entries. It powers `kvctl inspect`. On corruption it prints what
// it could read and returns an error wrapping format.ErrCorrupt.
func Dump(w io.Writer, f ReadableFile, size int64) error {
	p := &printer{w: w}
	if size < FooterLen {
		return fmt.Errorf("dump sstable: %w", corruptf("file of %d bytes is shorter than the footer", size))
	}
	var fb [FooterLen]byte
	if err := readFullAt(f, fb[:], size-FooterLen); err != nil {
		return fmt.Errorf("dump sstable: %w", err)
	}
	ft, err := decodeFooter(fb[:])
	if err != nil {
		return fmt.Errorf("dump sstable footer: %w", err)
	}
	p.printf("footer (%d bytes at %d): version=%d magic=%q\n", FooterLen, size-FooterLen, ft.version, Magic)
	p.printf("  filter     offset=%d length=%d\n", ft.filter.offset, ft.filter.length)
	p.printf("  index      offset=%d length=%d\n", ft.index.offset, ft.index.length)
	p.printf("  properties offset=%d length=%d\n", ft.props.offset, ft.props.length)

	r, err := open(noClose{f}, size, ReaderOptions{})
	if err != nil {
		return fmt.Errorf("dump sstable: %w", err)
	}
	pr := r.props
	p.printf("properties:\n")
	p.printf("  entries=%d deletions=%d data_blocks=%d\n", pr.NumEntries, pr.NumDeletions, pr.NumDataBlocks)
	p.printf("  smallest=%s\n  largest=%s\n", FormatKey(pr.Smallest), FormatKey(pr.Largest))
	p.printf("  seq=[%d, %d]\n", pr.SmallestSeq, pr.LargestSeq)
	p.printf("  raw_key_bytes=%d raw_value_bytes=%d\n", pr.RawKeySize, pr.RawValueSize)
	p.printf("  data_bytes=%d index_bytes=%d filter_bytes=%d file_bytes=%d\n",
		pr.DataSize, pr.IndexSize, pr.FilterSize, pr.FileSize)
	if r.filter.present() {
		p.printf("filter: bloom bits=%d probes=%d\n", r.filter.nbits, r.filter.k)
	} else {
		p.printf("filter: none\n")
	}
	p.printf("index (%d entries):\n", len(r.index))
	for i := range r.index {
		h := r.index[i].handle
		p.printf("  #%d last=%s block offset=%d length=%d\n", i, FormatKey(r.indexKey(i)), h.offset, h.length)
	}
	for i := range r.index {
		h := r.index[i].handle
		var raw [TrailerLen]byte
		typ := "?"
		if readFullAt(f, raw[:], int64(h.offset+h.length)) == nil {
			typ = map[byte]string{blockTypeNone: "none", blockTypeSnappy: "snappy"}[raw[0]]
		}
		b, err := r.dataBlock(i, nil)
		if err != nil {
			return fmt.Errorf("dump sstable: %w", err)
		}
		var it blockIter
		if err := it.init(b); err != nil {
			return fmt.Errorf("dump sstable data block %d: %w", i, err)
		}
		p.printf("data block #%d offset=%d length=%d compression=%s decoded=%d restarts=%d:\n",
			i, h.offset, h.length, typ, len(b), it.numRestarts)
		for ok := it.First(); ok; ok = it.Next() {
			p.printf("  %s = %s\n", FormatKey(it.key), formatValue(it.value))
		}
		if it.err != nil {
			return fmt.Errorf("dump sstable data block %d: %w", i, it.err)
		}
	}
	return p.err
}

// FormatKey renders an internal key as "user key" #seq KIND.
func FormatKey(ik []byte) string {
	if ik == nil {
		return "<none>"
	}
	u, seq, kind, ok := format.ParseInternalKey(ik)
	if !ok {
		return fmt.Sprintf("<bad key %q>", ik)
	}
	return fmt.Sprintf("%q #%d %s", u, seq, kind)
}

func formatValue(v []byte) string {
	if len(v) <= dumpValueMax {
		return strconv.Quote(string(v))
	}
	return fmt.Sprintf("%q... (%d bytes)", v[:dumpValueMax], len(v))
}

type printer struct {
	w   io.Writer
	err error
}

func (p *printer) printf(f string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, f, args...)
	}
}

// noClose keeps Dump from owning the caller's file.
type noClose struct{ io.ReaderAt }

func (noClose) Close() error { return nil }
