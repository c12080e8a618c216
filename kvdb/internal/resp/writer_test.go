package resp

import (
	"bufio"
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWriter(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("b", 100)
	for _, tc := range []struct {
		name  string
		write func(w *Writer)
		want  string
	}{
		{"simple", func(w *Writer) { w.SimpleString("PONG") }, "+PONG\r\n"},
		{"ok", func(w *Writer) { w.OK() }, "+OK\r\n"},
		{"error", func(w *Writer) { w.Error("ERR syntax error") }, "-ERR syntax error\r\n"},
		{"error with newlines", func(w *Writer) { w.Error("ERR a\r\nb\nc") }, "-ERR a  b c\r\n"},
		{"int", func(w *Writer) { w.Int(42) }, ":42\r\n"},
		{"negative int", func(w *Writer) { w.Int(-2) }, ":-2\r\n"},
		{"min int", func(w *Writer) { w.Int(math.MinInt64) }, ":-9223372036854775808\r\n"},
		{"bulk", func(w *Writer) { w.Bulk([]byte("a\r\nb")) }, "$4\r\na\r\nb\r\n"},
		{"empty bulk", func(w *Writer) { w.Bulk(nil) }, "$0\r\n\r\n"},
		{"bulk string", func(w *Writer) { w.BulkString("hi") }, "$2\r\nhi\r\n"},
		{"null", func(w *Writer) { w.Null() }, "$-1\r\n"},
		{"array", func(w *Writer) { w.ArrayLen(2); w.Int(1); w.Null() }, "*2\r\n:1\r\n$-1\r\n"},
		{"empty array", func(w *Writer) { w.ArrayLen(0) }, "*0\r\n"},
		{"null array", func(w *Writer) { w.NullArray() }, "*-1\r\n"},
		{"larger than the buffer", func(w *Writer) { w.BulkString(big); w.Int(7) }, "$100\r\n" + big + "\r\n:7\r\n"},
	} {
		for _, size := range []int{16, 4096} { // 16: every header hits the "buffer nearly full" path
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				var out bytes.Buffer
				w := NewWriter(bufio.NewWriterSize(&out, size))
				tc.write(w)
				require.NoError(t, w.Flush())
				assert.Equal(t, tc.want, out.String())
			})
		}
	}
}

// Replies stay in the buffer until Flush: this is what turns a pipeline into one write.
func TestWriterBuffersUntilFlush(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	w := NewWriter(bufio.NewWriterSize(&out, 4096))
	for range 16 {
		w.OK()
	}
	assert.Zero(t, out.Len())
	assert.Equal(t, 16*5, w.Buffered())
	require.NoError(t, w.Flush())
	assert.Equal(t, strings.Repeat("+OK\r\n", 16), out.String())
}

func TestWriterDoesNotAllocate(t *testing.T) {
	var out bytes.Buffer
	w := NewWriter(bufio.NewWriterSize(&out, 4096))
	v := []byte("value")
	allocs := testing.AllocsPerRun(1000, func() {
		out.Reset()
		w.ArrayLen(3)
		w.Int(123456789)
		w.Bulk(v)
		w.Null()
		w.OK()
		_ = w.Flush()
	})
	assert.Zero(t, allocs)
}
