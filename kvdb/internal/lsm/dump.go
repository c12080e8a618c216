package lsm

// Human-readable dumps of the DB's own file formats, for `kvctl inspect` (SSTables are dumped by
// sstable.Dump). Each prints one line per record and stops with an error at corruption; a torn
// tail is reported, not treated as an error, exactly as recovery treats it.

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/lsm/format"
	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/lsm/sstable"
	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/lsm/wal"
)

const dumpValueMax = 48

// DumpManifest prints every version edit of a MANIFEST file.
func DumpManifest(w io.Writer, path string) error {
	return dumpRecords(w, path, func(w io.Writer, i int, p []byte) error {
		e, err := decodeVersionEdit(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "edit %d:", i)
		if e.hasLogNum {
			fmt.Fprintf(w, " log=%06d", e.logNum)
		}
		if e.hasNextFileNum {
			fmt.Fprintf(w, " next-file=%06d", e.nextFileNum)
		}
		if e.hasLastSeq {
			fmt.Fprintf(w, " last-seq=%d", e.lastSeq)
		}
		fmt.Fprintln(w)
		for _, d := range e.deleted {
			fmt.Fprintf(w, "  delete L%d %06d.sst\n", d.level, d.fileNum)
		}
		for _, a := range e.added {
			m := a.meta
			fmt.Fprintf(w, "  add    L%d %06d.sst %d bytes seq %d..%d [%s .. %s]\n", a.level, m.fileNum, m.size,
				m.smallestSeq, m.largestSeq, sstable.FormatKey(m.smallest), sstable.FormatKey(m.largest))
		}
		return nil
	})
}

// DumpWAL prints every batch of a WAL file with its operations.
func DumpWAL(w io.Writer, path string) error {
	return dumpRecords(w, path, func(w io.Writer, i int, p []byte) error {
		br, err := newBatchReader(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "batch %d: seq %d, %d ops\n", i, br.seq, br.count)
		for n := uint64(0); ; n++ {
			op, ok, err := br.next()
			if err != nil {
				return err
			}
			if !ok {
				return nil
			}
			fmt.Fprintf(w, "  #%d %s %s", br.seq+n, op.kind, strconv.Quote(string(op.key)))
			value := op.value
			if op.kind == format.KindSetTTL {
				exp, v, err := format.DecodeTTLValue(value)
				if err != nil {
					return err
				}
				fmt.Fprintf(w, " expires %s", time.Unix(0, exp).UTC().Format(time.RFC3339Nano))
				value = v
			}
			if op.kind != format.KindDelete {
				if len(value) > dumpValueMax {
					fmt.Fprintf(w, " = %q... (%d bytes)", value[:dumpValueMax], len(value))
				} else {
					fmt.Fprintf(w, " = %q", value)
				}
			}
			fmt.Fprintln(w)
		}
	})
}

func dumpRecords(w io.Writer, path string, record func(io.Writer, int, []byte) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("dump %s: %w", path, err)
	}
	defer f.Close()
	r := wal.NewReader(f)
	for i := 0; ; i++ {
		p, err := r.Next()
		if errors.Is(err, io.EOF) {
			if st, serr := f.Stat(); serr == nil && st.Size() > r.Offset() {
				fmt.Fprintf(w, "torn tail: %d bytes after offset %d (ignored by recovery)\n", st.Size()-r.Offset(), r.Offset())
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("dump %s record %d: %w", path, i, err)
		}
		if err := record(w, i, p); err != nil {
			return fmt.Errorf("dump %s record %d at offset %d: %w", path, i, r.Offset(), err)
		}
	}
}
