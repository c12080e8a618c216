package lsm

// Version edits — the records of the MANIFEST.
//
// The set of live tables is never rewritten in place. Each flush or compaction appends one
// edit ("add table 12 to L0, delete tables 7 and 9 from L1, log number is now 14, ...") to the
// MANIFEST, and the current state is the replay of all edits, as in LevelDB
// (leveldb/db/version_edit.cc, doc/impl.html "Manifest"). An edit is encoded as a sequence of
// tagged fields, each tag a uvarint; docs/format.md §4 specifies it byte by byte.

import (
	"encoding/binary"
	"fmt"

	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/lsm/format"
)

const (
	tagLogNumber      = 1
	tagNextFileNumber = 2
	tagLastSeq        = 3
	tagDeletedTable   = 4
	tagNewTable       = 5
)

type deletedTable struct {
	level   int
	fileNum uint64
}

type newTable struct {
	level int
	meta  *tableMeta
}

type versionEdit struct {
	hasLogNum, hasNextFileNum, hasLastSeq bool
	logNum, nextFileNum, lastSeq          uint64
	deleted                               []deletedTable
	added                                 []newTable
}

func (e *versionEdit) setLogNum(n uint64)      { e.hasLogNum, e.logNum = true, n }
func (e *versionEdit) setNextFileNum(n uint64) { e.hasNextFileNum, e.nextFileNum = true, n }
func (e *versionEdit) setLastSeq(n uint64)     { e.hasLastSeq, e.lastSeq = true, n }

func (e *versionEdit) encode(dst []byte) []byte {
	if e.hasLogNum {
		dst = binary.AppendUvarint(dst, tagLogNumber)
		dst = binary.AppendUvarint(dst, e.logNum)
	}
	if e.hasNextFileNum {
		dst = binary.AppendUvarint(dst, tagNextFileNumber)
		dst = binary.AppendUvarint(dst, e.nextFileNum)
	}
	if e.hasLastSeq {
		dst = binary.AppendUvarint(dst, tagLastSeq)
		dst = binary.AppendUvarint(dst, e.lastSeq)
	}
	for _, d := range e.deleted {
		dst = binary.AppendUvarint(dst, tagDeletedTable)
		dst = binary.AppendUvarint(dst, uint64(d.level))
		dst = binary.AppendUvarint(dst, d.fileNum)
	}
	for _, a := range e.added {
		m := a.meta
		dst = binary.AppendUvarint(dst, tagNewTable)
		dst = binary.AppendUvarint(dst, uint64(a.level))
		dst = binary.AppendUvarint(dst, m.fileNum)
		dst = binary.AppendUvarint(dst, m.size)
		dst = binary.AppendUvarint(dst, m.smallestSeq)
		dst = binary.AppendUvarint(dst, m.largestSeq)
		dst = binary.AppendUvarint(dst, uint64(len(m.smallest)))
		dst = append(dst, m.smallest...)
		dst = binary.AppendUvarint(dst, uint64(len(m.largest)))
		dst = append(dst, m.largest...)
	}
	return dst
}

// decodeVersionEdit parses one MANIFEST record. Errors wrap format.ErrCorrupt.
func decodeVersionEdit(b []byte) (*versionEdit, error) {
	d := editDecoder{b: b}
	e := &versionEdit{}
	for len(d.b) > 0 && d.err == nil {
		switch tag := d.uvarint(); tag {
		case tagLogNumber:
			e.setLogNum(d.uvarint())
		case tagNextFileNumber:
			e.setNextFileNum(d.uvarint())
		case tagLastSeq:
			e.setLastSeq(d.uvarint())
		case tagDeletedTable:
			e.deleted = append(e.deleted, deletedTable{level: d.level(), fileNum: d.uvarint()})
		case tagNewTable:
			level := d.level()
			m := &tableMeta{fileNum: d.uvarint(), size: d.uvarint(), smallestSeq: d.uvarint(), largestSeq: d.uvarint()}
			m.smallest = d.bytes()
			m.largest = d.bytes()
			if d.err == nil {
				if _, _, _, ok := format.ParseInternalKey(m.smallest); !ok {
					d.fail("bad smallest key")
				} else if _, _, _, ok := format.ParseInternalKey(m.largest); !ok {
					d.fail("bad largest key")
				} else if format.CompareInternal(m.smallest, m.largest) > 0 {
					d.fail("smallest key after largest")
				}
			}
			e.added = append(e.added, newTable{level: level, meta: m})
		default:
			if d.err == nil {
				d.fail(fmt.Sprintf("unknown tag %d", tag))
			}
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	return e, nil
}

type editDecoder struct {
	b   []byte
	err error
}

func (d *editDecoder) fail(why string) {
	if d.err == nil {
		d.err = fmt.Errorf("decode version edit: %s: %w", why, format.ErrCorrupt)
	}
	d.b = nil
}

func (d *editDecoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *editDecoder) level() int {
	l := d.uvarint()
	if l >= numLevels {
		d.fail(fmt.Sprintf("level %d", l))
		return 0
	}
	return int(l)
}

func (d *editDecoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail("key length past end")
		return nil
	}
	v := append([]byte(nil), d.b[:n]...) // the record buffer is reused by the reader
	d.b = d.b[n:]
	return v
}
