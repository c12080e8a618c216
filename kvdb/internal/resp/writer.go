package resp

import (
	"bufio"
	"strconv"
)

// Writer encodes RESP2 replies into a bufio.Writer. Nothing reaches the connection until Flush
// (or until the buffer fills), which is what lets the server answer a whole pipeline with one
// write. Write errors are sticky in bufio.Writer, so the methods return nothing and Flush
// reports the first error.
type Writer struct {
	bw *bufio.Writer
}

// NewWriter returns a Writer over bw.
func NewWriter(bw *bufio.Writer) *Writer { return &Writer{bw: bw} }

// Flush sends the buffered replies.
func (w *Writer) Flush() error { return w.bw.Flush() }

// Buffered reports how many reply bytes are waiting for Flush.
func (w *Writer) Buffered() int { return w.bw.Buffered() }

// header writes prefix, n and CRLF with no allocation: it formats straight into the free
// part of the bufio buffer (AvailableBuffer), flushing first if fewer than 24 bytes are free.
func (w *Writer) header(prefix byte, n int64) {
	if w.bw.Available() < 24 {
		_ = w.bw.Flush() // sticky; surfaces in the next Flush
	}
	b := w.bw.AvailableBuffer()
	b = append(b, prefix)
	b = strconv.AppendInt(b, n, 10)
	b = append(b, '\r', '\n')
	_, _ = w.bw.Write(b)
}

// SimpleString writes "+s". s must not contain CR or LF.
func (w *Writer) SimpleString(s string) {
	_ = w.bw.WriteByte('+')
	_, _ = w.bw.WriteString(s)
	_, _ = w.bw.WriteString("\r\n")
}

// OK writes "+OK".
func (w *Writer) OK() { _, _ = w.bw.WriteString("+OK\r\n") }

// Error writes "-msg". msg starts with the error code ("ERR", "NOPROTO", ...); CR and LF in it
// become spaces, as in Redis, since they would end the reply early.
func (w *Writer) Error(msg string) {
	_ = w.bw.WriteByte('-')
	for i := 0; i < len(msg); i++ {
		c := msg[i]
		if c == '\r' || c == '\n' {
			c = ' '
		}
		_ = w.bw.WriteByte(c)
	}
	_, _ = w.bw.WriteString("\r\n")
}

// Int writes ":n".
func (w *Writer) Int(n int64) { w.header(':', n) }

// Bulk writes "$len" and b.
func (w *Writer) Bulk(b []byte) {
	w.header('$', int64(len(b)))
	_, _ = w.bw.Write(b)
	_, _ = w.bw.WriteString("\r\n")
}

// BulkString writes "$len" and s.
func (w *Writer) BulkString(s string) {
	w.header('$', int64(len(s)))
	_, _ = w.bw.WriteString(s)
	_, _ = w.bw.WriteString("\r\n")
}

// Null writes the null bulk string "$-1", the RESP2 nil.
func (w *Writer) Null() { _, _ = w.bw.WriteString("$-1\r\n") }

// ArrayLen writes "*n"; the n elements follow.
func (w *Writer) ArrayLen(n int) { w.header('*', int64(n)) }

// NullArray writes "*-1".
func (w *Writer) NullArray() { _, _ = w.bw.WriteString("*-1\r\n") }
