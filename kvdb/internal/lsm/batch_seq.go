package lsm

import "encoding/binary"

// Seq returns the sequence number of the batch's first operation once DB.Write has committed it
// (op i got Seq()+i): the version a key now has. It is 0 before a successful Write.
func (b *Batch) Seq() uint64 {
	if len(b.data) < batchHeaderLen {
		return 0
	}
	return binary.LittleEndian.Uint64(b.data[0:8])
}
