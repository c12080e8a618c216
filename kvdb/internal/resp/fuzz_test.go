package resp

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzReader: arbitrary bytes never panic, only ever end in EOF, an unexpected EOF or a protocol
// error, never make the reader hold much more than it was sent, and every command it accepts
// survives a round trip through the canonical encoding. Seeds: testdata/fuzz/FuzzReader.
func FuzzReader(f *testing.F) {
	limits := Limits{MaxBulk: 512, MaxArgs: 16, MaxCommand: 1024}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bufio.NewReaderSize(bytes.NewReader(data), 64), limits)
		var cmds [][][]byte
		for {
			args, err := r.ReadCommand()
			if err != nil {
				var pe *ProtocolError
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.As(err, &pe) {
					t.Fatalf("unexpected error %v", err)
				}
				break
			}
			require.NotEmpty(t, args)
			require.LessOrEqual(t, len(args), limits.MaxArgs)
			// What the reader holds is bounded by what it was sent, not by what it was told.
			require.LessOrEqual(t, cap(r.buf), 2*len(data)+limits.MaxBulk)
			cmd := make([][]byte, len(args))
			for i, a := range args {
				cmd[i] = bytes.Clone(a)
			}
			cmds = append(cmds, cmd)
		}
		require.LessOrEqual(t, cap(r.buf), 2*len(data)+limits.MaxBulk)

		var buf bytes.Buffer
		for _, cmd := range cmds {
			encodeCommand(&buf, cmd)
		}
		r = NewReader(bufio.NewReaderSize(bytes.NewReader(buf.Bytes()), 64), Limits{})
		for _, want := range cmds {
			got, err := r.ReadCommand()
			require.NoError(t, err)
			require.Equal(t, want, got)
		}
		_, err := r.ReadCommand()
		require.ErrorIs(t, err, io.EOF)
	})
}
