package wal

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"slices"

	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/lsm/format"
)

// scanBudget bounds the bytes checksummed while deciding whether a bad record is a torn tail or
// mid-file corruption, so a huge garbage tail cannot make recovery quadratic.
const scanBudget = 1 << 30

// Reader reads the records of a log in order.
//
// When it meets a record that does not check out (short header, short payload, bad CRC, length
// above MaxRecordSize) it reads the rest of the input and looks for any well-formed record
// starting after the bad one's first byte. None found: the bad bytes are a torn write at the end
// (or a zeroed, preallocated tail) and Next returns io.EOF. One found: valid data follows the
// damage, so the log is corrupt in the middle and Next returns an error wrapping
// format.ErrCorrupt. Either way it never returns a payload whose CRC does not match.
type Reader struct {
	r      *bufio.Reader
	hdr    [HeaderLen]byte
	buf    []byte
	offset int64 // just after the last good record
	err    error // sticky
}

// NewReader returns a Reader over r.
func NewReader(r io.Reader) *Reader {
	return &Reader{r: bufio.NewReaderSize(r, 64<<10)}
}

// Offset returns the byte offset just after the last good record (to truncate a torn tail).
func (r *Reader) Offset() int64 { return r.offset }

// Next returns the next record's payload, valid until the next call; io.EOF at the end.
func (r *Reader) Next() ([]byte, error) {
	if r.err != nil {
		return nil, r.err
	}
	p, err := r.next()
	if err != nil {
		r.err = err
		return nil, err
	}
	return p, nil
}

func (r *Reader) next() ([]byte, error) {
	n, err := io.ReadFull(r.r, r.hdr[:])
	switch {
	case err == io.EOF:
		return nil, io.EOF
	case err == io.ErrUnexpectedEOF:
		// A partial header is necessarily the last bytes of the file.
		return nil, r.badRecord(r.hdr[:n], "short header")
	case err != nil:
		return nil, fmt.Errorf("read wal at offset %d: %w", r.offset, err)
	}
	length := binary.LittleEndian.Uint32(r.hdr[4:])
	if length > MaxRecordSize {
		return nil, r.badRecord(r.hdr[:], fmt.Sprintf("record length %d above limit", length))
	}
	if err := r.readPayload(int(length)); err != nil {
		if err == io.ErrUnexpectedEOF {
			return nil, r.badRecord(append(r.hdr[:], r.buf...), "short payload")
		}
		return nil, fmt.Errorf("read wal at offset %d: %w", r.offset, err)
	}
	crc := crc32.Update(crc32.Update(0, crcTable, r.hdr[4:]), crcTable, r.buf)
	if crc != binary.LittleEndian.Uint32(r.hdr[:4]) {
		return nil, r.badRecord(append(r.hdr[:], r.buf...), "checksum mismatch")
	}
	r.offset += int64(HeaderLen) + int64(length)
	return r.buf, nil
}

// readPayload reads length bytes into r.buf. The buffer grows with the data actually read, so a
// garbage length near MaxRecordSize at the end of a file does not allocate 64 MiB. On a short
// read r.buf holds what was read and the error is io.ErrUnexpectedEOF.
func (r *Reader) readPayload(length int) error {
	const chunk = 1 << 20
	r.buf = r.buf[:0]
	for len(r.buf) < length {
		want := length - len(r.buf)
		if want > cap(r.buf)-len(r.buf) {
			want = min(want, max(chunk, cap(r.buf)))
			r.buf = slices.Grow(r.buf, want)
		}
		n, err := io.ReadFull(r.r, r.buf[len(r.buf):len(r.buf)+want])
		r.buf = r.buf[:len(r.buf)+n]
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// badRecord decides between torn tail (io.EOF) and mid-file corruption. consumed holds the bytes
// of the bad record already read from the input.
func (r *Reader) badRecord(consumed []byte, why string) error {
	rest, err := io.ReadAll(r.r)
	if err != nil {
		return fmt.Errorf("read wal tail at offset %d: %w", r.offset, err)
	}
	tail := append(consumed[:len(consumed):len(consumed)], rest...)
	at, found, exhausted := findRecord(tail[min(1, len(tail)):])
	if exhausted {
		return fmt.Errorf("wal record at offset %d: %s and tail too large to check: %w",
			r.offset, why, format.ErrCorrupt)
	}
	if found {
		return fmt.Errorf("wal record at offset %d: %s, valid record follows at offset %d: %w",
			r.offset, why, r.offset+1+int64(at), format.ErrCorrupt)
	}
	return io.EOF
}

// findRecord returns the position of the first well-formed record in b. exhausted reports that
// the checksum budget ran out before the search finished.
func findRecord(b []byte) (at int, found, exhausted bool) {
	budget := scanBudget
	for i := 0; i+HeaderLen <= len(b); i++ {
		length := int(binary.LittleEndian.Uint32(b[i+4:]))
		if length > MaxRecordSize || length > len(b)-i-HeaderLen {
			continue
		}
		want := binary.LittleEndian.Uint32(b[i:])
		if length == 0 && want == 0 {
			continue // zeroed (preallocated) space: crc32c of four zero bytes is not zero
		}
		if budget -= 4 + length; budget < 0 {
			return 0, false, true
		}
		if crc32.Update(0, crcTable, b[i+4:i+HeaderLen+length]) == want {
			return i, true, false
		}
	}
	return 0, false, false
}
