package resp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readAll parses every command in input and returns them as strings, with the error that ended
// the input (io.EOF when it ended cleanly).
func readAll(t *testing.T, r *Reader) ([][]string, error) {
	t.Helper()
	var cmds [][]string
	for range 1000 {
		args, err := r.ReadCommand()
		if err != nil {
			return cmds, err
		}
		cmd := make([]string, len(args))
		for i, a := range args {
			cmd[i] = string(a)
		}
		cmds = append(cmds, cmd)
	}
	t.Fatal("more than 1000 commands")
	return nil, nil
}

// sources wraps the input the ways the network can deliver it: all at once, one byte per read
// (every boundary split), and in a 32-byte buffer (the longest header line fits; inline lines do not).
var sources = []struct {
	name string
	new  func(in string) *bufio.Reader
}{
	{"whole", func(in string) *bufio.Reader { return bufio.NewReader(strings.NewReader(in)) }},
	{"one-byte", func(in string) *bufio.Reader { return bufio.NewReader(iotest.OneByteReader(strings.NewReader(in))) }},
	{"tiny-buffer", func(in string) *bufio.Reader {
		return bufio.NewReaderSize(iotest.HalfReader(strings.NewReader(in)), 32)
	}},
}

func TestReaderCommands(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 5000)
	for _, tc := range []struct {
		name string
		in   string
		want [][]string
	}{
		{"multibulk", "*1\r\n$4\r\nPING\r\n", [][]string{{"PING"}}},
		{"pipelined", "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nPING\r\n",
			[][]string{{"SET", "k", "v"}, {"GET", "k"}, {"PING"}}},
		{"binary bulk", "*2\r\n$4\r\nECHO\r\n$6\r\na\r\n\x00b\n\r\n", [][]string{{"ECHO", "a\r\n\x00b\n"}}},
		{"empty bulk", "*2\r\n$4\r\nECHO\r\n$0\r\n\r\n", [][]string{{"ECHO", ""}}},
		{"empty arrays skipped", "*0\r\n*-1\r\n*1\r\n$4\r\nPING\r\n", [][]string{{"PING"}}},
		{"long bulk", "*2\r\n$4\r\nECHO\r\n$5000\r\n" + long + "\r\n", [][]string{{"ECHO", long}}},
		{"inline", "PING\r\n", [][]string{{"PING"}}},
		{"inline LF only", "SET k v\n", [][]string{{"SET", "k", "v"}}},
		{"inline spaces and tabs", "  SET\tk   v  \r\n", [][]string{{"SET", "k", "v"}}},
		{"inline blank lines skipped", "\r\n\n   \r\nPING\r\n", [][]string{{"PING"}}},
		{"inline double quotes", `SET k "hello world"` + "\r\n", [][]string{{"SET", "k", "hello world"}}},
		{"inline escapes", `ECHO "a\x41\n\t\"\\"` + "\r\n", [][]string{{"ECHO", "aA\n\t\"\\"}}},
		{"inline single quotes", `ECHO 'it\'s "x"'` + "\r\n", [][]string{{"ECHO", `it's "x"`}}},
		{"inline empty quoted", `SET k ""` + "\r\n", [][]string{{"SET", "k", ""}}},
		{"inline quote inside word", `ECHO ab"c d"` + "\r\n", [][]string{{"ECHO", "abc d"}}},
		{"inline then multibulk", "PING\r\n*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n", [][]string{{"PING"}, {"ECHO", "hi"}}},
		{"inline longer than the buffer", "ECHO " + long + "\r\n", [][]string{{"ECHO", long}}},
	} {
		for _, src := range sources {
			t.Run(tc.name+"/"+src.name, func(t *testing.T) {
				t.Parallel()
				got, err := readAll(t, NewReader(src.new(tc.in), Limits{}))
				assert.ErrorIs(t, err, io.EOF)
				assert.Equal(t, tc.want, got)
			})
		}
	}
}

func TestReaderErrors(t *testing.T) {
	t.Parallel()
	limits := Limits{MaxBulk: 100, MaxArgs: 10, MaxCommand: 150}
	for _, tc := range []struct {
		name string
		in   string
		want string // the protocol error's text; empty for wantErr
		err  error
	}{
		{"garbage count", "*abc\r\n", "Protocol error: invalid multibulk length", nil},
		{"plus sign", "*+1\r\n", "Protocol error: invalid multibulk length", nil},
		{"leading zero", "*01\r\n", "Protocol error: invalid multibulk length", nil},
		{"count overflow", "*99999999999999999999\r\n", "Protocol error: invalid multibulk length", nil},
		{"too many args", "*11\r\n", "Protocol error: invalid multibulk length", nil},
		{"bare LF after count", "*1\n$4\r\nPING\r\n", "Protocol error: invalid multibulk length", nil},
		{"not a bulk", "*1\r\n:1\r\n", "Protocol error: expected '$', got ':'", nil},
		{"not a bulk, control byte", "*1\r\n\x01\r\n", `Protocol error: expected '$', got '\x01'`, nil},
		{"null bulk in a request", "*1\r\n$-1\r\n", "Protocol error: invalid bulk length", nil},
		{"garbage bulk length", "*1\r\n$x\r\n", "Protocol error: invalid bulk length", nil},
		{"empty bulk length", "*1\r\n$\r\n", "Protocol error: invalid bulk length", nil},
		{"bulk too long", "*1\r\n$101\r\n", "Protocol error: invalid bulk length", nil},
		{"huge bulk length", "*1\r\n$9223372036854775807\r\n", "Protocol error: invalid bulk length", nil},
		{"command too large", "*2\r\n$100\r\n" + strings.Repeat("a", 100) + "\r\n$51\r\n", "Protocol error: command too large", nil},
		{"no CRLF after bulk", "*1\r\n$3\r\nabcXY", "Protocol error: expected CRLF after bulk string", nil},
		{"header line too long", "*1\r\n$" + strings.Repeat("1", 20000) + "\r\n", "Protocol error: too big bulk count string", nil},
		{"count line too long", "*" + strings.Repeat("1", 20000) + "\r\n", "Protocol error: too big mbulk count string", nil},
		{"inline too long", "ECHO " + strings.Repeat("a", 70000) + "\r\n", "Protocol error: too big inline request", nil},
		{"unbalanced double quote", "ECHO \"abc\r\n", "Protocol error: unbalanced quotes in request", nil},
		{"unbalanced single quote", "ECHO 'abc\r\n", "Protocol error: unbalanced quotes in request", nil},
		{"closing quote not ending the word", "ECHO \"a\"b\r\n", "Protocol error: unbalanced quotes in request", nil},
		{"too many inline args", "a b c d e f g h i j k\r\n", "Protocol error: invalid multibulk length", nil},
		{"EOF inside array", "*2\r\n$3\r\nGET\r\n", "", io.ErrUnexpectedEOF},
		{"EOF inside bulk", "*1\r\n$10\r\nabc", "", io.ErrUnexpectedEOF},
		{"EOF inside inline", "PING", "", io.ErrUnexpectedEOF},
	} {
		for _, src := range sources {
			t.Run(tc.name+"/"+src.name, func(t *testing.T) {
				t.Parallel()
				_, err := readAll(t, NewReader(src.new(tc.in), limits))
				if tc.err != nil {
					assert.ErrorIs(t, err, tc.err)
					return
				}
				var pe *ProtocolError
				require.True(t, errors.As(err, &pe), "want a *ProtocolError, got %v", err)
				assert.Equal(t, tc.want, pe.Error())
			})
		}
	}
}

// A length prefix is a claim, not bytes: the reader must not allocate for it before the
// bytes arrive.
func TestReaderDoesNotTrustLengths(t *testing.T) {
	t.Parallel()
	limits := Limits{MaxBulk: 1 << 30, MaxArgs: 1 << 30, MaxCommand: 1 << 30}
	for _, tc := range []struct {
		name string
		in   string
	}{
		{"bulk", "*1\r\n$1000000000\r\nonly a few bytes"},
		{"array", "*1000000000\r\n$1\r\na\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := NewReader(bufio.NewReader(strings.NewReader(tc.in)), limits)
			_, err := r.ReadCommand()
			require.ErrorIs(t, err, io.ErrUnexpectedEOF)
			assert.LessOrEqual(t, cap(r.buf), growStep, "argument buffer")
			assert.LessOrEqual(t, cap(r.ends), 16, "argument index")
		})
	}
}

// Big arguments are read in growing chunks; the buffer must end up no more than about twice
// the data, and be released before the next command.
func TestReaderBigArgumentMemory(t *testing.T) {
	t.Parallel()
	const size = 3 << 20
	in := fmt.Sprintf("*2\r\n$3\r\nSET\r\n$%d\r\n%s\r\n*1\r\n$4\r\nPING\r\n", size, strings.Repeat("v", size))
	r := NewReader(bufio.NewReader(strings.NewReader(in)), Limits{})
	args, err := r.ReadCommand()
	require.NoError(t, err)
	require.Len(t, args, 2)
	assert.Len(t, args[1], size)
	assert.LessOrEqual(t, cap(r.buf), 2*size+growStep)
	args, err = r.ReadCommand()
	require.NoError(t, err)
	assert.Equal(t, "PING", string(args[0]))
	assert.LessOrEqual(t, cap(r.buf), retainBuf, "the big buffer is not kept")
}

// Arguments must not share capacity: a caller appending to one must not overwrite the next.
func TestReaderArgumentsDoNotOverlap(t *testing.T) {
	t.Parallel()
	r := NewReader(bufio.NewReader(strings.NewReader("*2\r\n$1\r\na\r\n$1\r\nb\r\n")), Limits{})
	args, err := r.ReadCommand()
	require.NoError(t, err)
	_ = append(args[0], 'X')
	assert.Equal(t, "b", string(args[1]))
}

// encodeCommand writes args the way clients do.
func encodeCommand(buf *bytes.Buffer, args [][]byte) {
	fmt.Fprintf(buf, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(buf, "$%d\r\n%s\r\n", len(a), a)
	}
}

// Property: any commands, encoded and pipelined, parse back to themselves, whatever the reads.
func TestReaderRoundTrip(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		var want [][][]byte
		var buf bytes.Buffer
		for range 1 + rng.IntN(10) {
			args := make([][]byte, 1+rng.IntN(6))
			for j := range args {
				args[j] = make([]byte, rng.IntN(300))
				for k := range args[j] {
					args[j][k] = byte(rng.IntN(256))
				}
			}
			want = append(want, args)
			encodeCommand(&buf, args)
		}
		src := sources[i%len(sources)]
		r := NewReader(src.new(buf.String()), Limits{})
		for _, w := range want {
			got, err := r.ReadCommand()
			require.NoError(t, err)
			require.Equal(t, w, got)
		}
		_, err := r.ReadCommand()
		require.ErrorIs(t, err, io.EOF)
	}
}

func TestParseInt(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"7", 7, true},
		{"-7", -7, true},
		{"9223372036854775807", 1<<63 - 1, true},
		{"-9223372036854775808", -1 << 63, true},
		{"9223372036854775808", 0, false},
		{"-9223372036854775809", 0, false},
		{"18446744073709551616", 0, false},
		{"", 0, false},
		{"-", 0, false},
		{"-0", 0, false},
		{"+1", 0, false},
		{"01", 0, false},
		{" 1", 0, false},
		{"1 ", 0, false},
		{"1a", 0, false},
		{"123456789012345678901", 0, false},
	} {
		got, ok := parseInt([]byte(tc.in))
		assert.Equal(t, tc.ok, ok, "%q", tc.in)
		assert.Equal(t, tc.want, got, "%q", tc.in)
	}
}

// mgetCommand is "MGET k k k ..." with n one-byte keys, as a client encodes it.
func mgetCommand(n int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "*%d\r\n$4\r\nMGET\r\n", n+1)
	for range n {
		b.WriteString("$1\r\nk\r\n")
	}
	return b.Bytes()
}

// Reading a command costs memory linear in its size, whatever the number of arguments: growing
// the argument buffer by exactly what each argument needed copied it once per argument, so an
// MGET of 1M one-byte keys (7 MB) never finished. Measured in bytes allocated, not in time: a
// quadratic reader allocates ~n²/2 bytes here, a linear one a small multiple of the input.
// Not parallel: runtime.MemStats counts every goroutine's allocations.
func TestReaderLinearInArguments(t *testing.T) {
	for _, n := range []int{100_000, DefaultMaxArgs - 1} {
		in := mgetCommand(n)
		r := NewReader(bufio.NewReaderSize(bytes.NewReader(in), 16<<10), Limits{})
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		args, err := r.ReadCommand()
		runtime.ReadMemStats(&after)
		require.NoError(t, err)
		require.Len(t, args, n+1)
		allocated := after.TotalAlloc - before.TotalAlloc
		t.Logf("%d arguments, %d bytes: %d bytes allocated", n, len(in), allocated)
		// Per argument: 7 input bytes; the reader keeps 1 data byte, an 8-byte end offset and
		// a 24-byte slice header, each in a doubling buffer (at most 2× twice over).
		require.LessOrEqual(t, allocated, uint64(16*len(in)), "%d arguments (%d bytes) allocated %d bytes", n, len(in), allocated)
		// And a later small command does not keep the big command's index alive.
		_, err = r.ReadCommand()
		require.ErrorIs(t, err, io.EOF)
		assert.LessOrEqual(t, cap(r.ends)+cap(r.args), 2*retainArgs)
	}
}

// More than MaxArgs arguments is refused from the header alone, in Redis's words.
func TestReaderArgumentLimit(t *testing.T) {
	t.Parallel()
	in := fmt.Sprintf("*%d\r\n$4\r\nMGET\r\n", DefaultMaxArgs+1)
	_, err := NewReader(bufio.NewReader(strings.NewReader(in)), Limits{}).ReadCommand()
	var pe *ProtocolError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "Protocol error: invalid multibulk length", pe.Error())
}
