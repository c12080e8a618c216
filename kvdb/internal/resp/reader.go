package resp

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// Default limits. Redis allows 512 MiB bulk strings (proto-max-bulk-len); a key-value store whose
// values live in an LSM memtable has no use for more than a few MiB, and a smaller limit bounds
// what one connection can make the server hold.
const (
	DefaultMaxBulk    = 16 << 20
	DefaultMaxArgs    = 1 << 20
	DefaultMaxCommand = 64 << 20

	// maxInline is Redis's PROTO_INLINE_MAX_SIZE: the longest inline command and the longest
	// "*N" / "$N" header line.
	maxInline = 64 << 10
	// retainBuf is the argument buffer size kept between commands; a larger one (after a big
	// SET) is dropped so an idle connection does not pin it.
	retainBuf = 64 << 10
	// retainArgs is the argument count whose index is kept between commands.
	retainArgs = 4096
	// growStep is the most the reader allocates ahead of bytes that have actually arrived.
	growStep = 64 << 10
)

// ProtocolError is a malformed request. The server answers "-ERR Protocol error: ..." and closes
// the connection, as Redis does, because it cannot find the start of the next command.
type ProtocolError struct {
	Msg string
}

func (e *ProtocolError) Error() string { return "Protocol error: " + e.Msg }

// Preallocated so that rejecting garbage does not allocate either.
var (
	errInvalidMultibulk = &ProtocolError{"invalid multibulk length"}
	errInvalidBulk      = &ProtocolError{"invalid bulk length"}
	errBigMultibulk     = &ProtocolError{"too big mbulk count string"}
	errBigBulkCount     = &ProtocolError{"too big bulk count string"}
	errBigInline        = &ProtocolError{"too big inline request"}
	errUnbalancedQuotes = &ProtocolError{"unbalanced quotes in request"}
	errBulkCRLF         = &ProtocolError{"expected CRLF after bulk string"}
	errBigCommand       = &ProtocolError{"command too large"}
)

// Limits bound what one command may make the Reader hold. Zero fields take the defaults.
type Limits struct {
	MaxBulk    int // longest bulk string (argument), default 16 MiB
	MaxArgs    int // most arguments in one command, default 1Mi
	MaxCommand int // most argument bytes in one command, default 64 MiB (at least MaxBulk)
}

func (l Limits) withDefaults() Limits {
	if l.MaxBulk <= 0 {
		l.MaxBulk = DefaultMaxBulk
	}
	if l.MaxArgs <= 0 {
		l.MaxArgs = DefaultMaxArgs
	}
	if l.MaxCommand <= 0 {
		l.MaxCommand = max(DefaultMaxCommand, l.MaxBulk)
	}
	return l
}

// Reader parses client commands: RESP arrays of bulk strings, and inline commands.
// It reuses its buffers: the slices ReadCommand returns are valid until the next call.
type Reader struct {
	br     *bufio.Reader
	limits Limits

	buf  []byte   // argument bytes of the current command, back to back
	ends []int    // end offset in buf of each argument
	args [][]byte // views into buf, rebuilt per command
	line []byte   // scratch for inline lines longer than br's buffer
}

// NewReader returns a Reader over br. Header lines ("*3", "$5") must fit in br's buffer,
// so br should be at least 64 bytes; the server uses several KiB.
func NewReader(br *bufio.Reader, limits Limits) *Reader {
	return &Reader{br: br, limits: limits.withDefaults()}
}

// Buffered reports how many bytes have been received but not yet parsed.
func (r *Reader) Buffered() int { return r.br.Buffered() }

// ReadCommand returns the next command's arguments (the name first). Empty commands (blank
// inline lines, "*0") are skipped. It returns io.EOF when the input ends between commands,
// io.ErrUnexpectedEOF when it ends inside one, and a *ProtocolError for malformed input.
func (r *Reader) ReadCommand() ([][]byte, error) {
	if cap(r.buf) > retainBuf {
		r.buf = nil
	}
	if cap(r.ends) > retainArgs {
		r.ends, r.args = nil, nil // 32 bytes per argument of the last big command
	}
	for {
		r.buf = r.buf[:0]
		r.ends = r.ends[:0]
		c, err := r.br.ReadByte()
		if err != nil {
			return nil, err // io.EOF between commands is a clean close
		}
		if c == '*' {
			err = r.readMultibulk()
		} else {
			_ = r.br.UnreadByte() // cannot fail right after ReadByte
			err = r.readInline()
		}
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if len(r.ends) > 0 {
			return r.collect(), nil
		}
	}
}

func (r *Reader) collect() [][]byte {
	if cap(r.args) < len(r.ends) {
		r.args = make([][]byte, 0, len(r.ends)) // once, at the final size
	}
	r.args = r.args[:0]
	start := 0
	for _, end := range r.ends {
		// Capacity capped at the argument's end so an append by the caller cannot overwrite
		// the next argument.
		r.args = append(r.args, r.buf[start:end:end])
		start = end
	}
	return r.args
}

// readMultibulk parses "*N\r\n" (the '*' already consumed) followed by N bulk strings.
func (r *Reader) readMultibulk() error {
	line, err := r.readHeaderLine(errBigMultibulk)
	if err != nil {
		return err
	}
	n, ok := parseInt(line)
	if !ok || n > int64(r.limits.MaxArgs) {
		return errInvalidMultibulk
	}
	if n <= 0 {
		return nil // Redis ignores "*0" and "*-1" from clients
	}
	total := 0
	for i := int64(0); i < n; i++ {
		c, err := r.br.ReadByte()
		if err != nil {
			return err
		}
		if c != '$' {
			return &ProtocolError{Msg: fmt.Sprintf("expected '$', got '%s'", printable(c))}
		}
		line, err := r.readHeaderLine(errBigBulkCount)
		if err != nil {
			return err
		}
		size, ok := parseInt(line)
		if !ok || size < 0 || size > int64(r.limits.MaxBulk) {
			return errInvalidBulk
		}
		if total += int(size); total > r.limits.MaxCommand {
			return errBigCommand
		}
		if err := r.readBulk(int(size)); err != nil {
			return err
		}
	}
	return nil
}

// readHeaderLine returns the rest of a "*N\r\n" or "$N\r\n" line without the CRLF.
func (r *Reader) readHeaderLine(tooBig error) ([]byte, error) {
	line, err := r.br.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, tooBig
		}
		return nil, err
	}
	if len(line) < 2 || line[len(line)-2] != '\r' {
		// A bare "\n" is not a RESP line end; Redis would keep looking for "\r" and then fail
		// to parse the number, so report it the same way.
		if tooBig == errBigMultibulk {
			return nil, errInvalidMultibulk
		}
		return nil, errInvalidBulk
	}
	return line[:len(line)-2], nil
}

// readBulk appends size bytes followed by CRLF to r.buf. Memory grows with the bytes that
// arrive, never ahead of them by more than growStep, so a length prefix alone reserves nothing.
func (r *Reader) readBulk(size int) error {
	for remaining := size; remaining > 0; {
		chunk := min(remaining, max(growStep, len(r.buf)))
		if cap(r.buf)-len(r.buf) < chunk {
			// Double, so a command of many small arguments copies each byte O(1) times
			// (growing by exactly the chunk made it quadratic). The new capacity is still at
			// most about twice the bytes received, plus growStep.
			grown := make([]byte, len(r.buf), max(len(r.buf)+chunk, 2*cap(r.buf)))
			copy(grown, r.buf)
			r.buf = grown
		}
		n, err := io.ReadFull(r.br, r.buf[len(r.buf):len(r.buf)+chunk])
		r.buf = r.buf[:len(r.buf)+n]
		if err != nil {
			return err
		}
		remaining -= n
	}
	r.ends = append(r.ends, len(r.buf))
	cr, err := r.br.ReadByte()
	if err != nil {
		return err
	}
	lf, err := r.br.ReadByte()
	if err != nil {
		return err
	}
	if cr != '\r' || lf != '\n' {
		return errBulkCRLF
	}
	return nil
}

// readInline reads one line and splits it into arguments the way redis-cli and Redis's
// sdssplitargs do: whitespace separates words, "double quotes" allow \n \r \t \b \a \\ \" \xHH
// escapes, 'single quotes' allow \'.
func (r *Reader) readInline() error {
	line, err := r.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		// Longer than the bufio buffer: gather it in r.line, up to Redis's inline limit.
		r.line = append(r.line[:0], line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			if len(r.line) > maxInline {
				return errBigInline
			}
			line, err = r.br.ReadSlice('\n')
			r.line = append(r.line, line...)
		}
		line = r.line
	}
	if err != nil {
		return err // an inline command must end with a newline
	}
	if len(line) > maxInline {
		return errBigInline
	}
	line = line[:len(line)-1]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	if err := r.splitInline(line); err != nil {
		return err
	}
	if cap(r.line) > retainBuf {
		r.line = nil
	}
	return nil
}

func (r *Reader) splitInline(p []byte) error {
	i := 0
	for {
		for i < len(p) && isSpace(p[i]) {
			i++
		}
		if i == len(p) || p[i] == 0 { // C strings end at NUL, and so does Redis's split
			return nil
		}
		inDouble, inSingle := false, false
		for done := false; !done; {
			if i == len(p) || p[i] == 0 {
				if inDouble || inSingle {
					return errUnbalancedQuotes
				}
				break
			}
			c := p[i]
			switch {
			case inDouble:
				switch {
				case c == '\\' && i+3 < len(p) && p[i+1] == 'x' && isHex(p[i+2]) && isHex(p[i+3]):
					r.buf = append(r.buf, unhex(p[i+2])<<4|unhex(p[i+3]))
					i += 3
				case c == '\\' && i+1 < len(p) && p[i+1] != 0:
					i++
					r.buf = append(r.buf, unescape(p[i]))
				case c == '"':
					// The closing quote must end the word.
					if i+1 < len(p) && !isSpace(p[i+1]) {
						return errUnbalancedQuotes
					}
					done = true
				default:
					r.buf = append(r.buf, c)
				}
			case inSingle:
				switch {
				case c == '\\' && i+1 < len(p) && p[i+1] == '\'':
					i++
					r.buf = append(r.buf, '\'')
				case c == '\'':
					if i+1 < len(p) && !isSpace(p[i+1]) {
						return errUnbalancedQuotes
					}
					done = true
				default:
					r.buf = append(r.buf, c)
				}
			default:
				switch c {
				case ' ', '\n', '\r', '\t':
					done = true
				case '"':
					inDouble = true
				case '\'':
					inSingle = true
				default:
					r.buf = append(r.buf, c)
				}
			}
			i++
		}
		if len(r.ends) >= r.limits.MaxArgs {
			return errInvalidMultibulk
		}
		r.ends = append(r.ends, len(r.buf))
	}
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	default:
		return c - 'a' + 10
	}
}

func unescape(c byte) byte {
	switch c {
	case 'n':
		return '\n'
	case 'r':
		return '\r'
	case 't':
		return '\t'
	case 'b':
		return '\b'
	case 'a':
		return '\a'
	default:
		return c
	}
}

func printable(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return string(rune(c))
	}
	return fmt.Sprintf("\\x%02x", c)
}

// parseInt parses a decimal int64 as strictly as Redis's string2ll: an optional '-', no '+',
// no spaces, no leading zeros ("0" itself excepted), no overflow. It does not allocate.
func parseInt(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	if len(b) == 1 && b[0] == '0' {
		return 0, true
	}
	neg := b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || b[0] < '1' || b[0] > '9' {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if v > (1<<64-1-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	if neg {
		if v > 1<<63 {
			return 0, false
		}
		return -int64(v), true // -(1<<63) wraps to itself, which is the right value
	}
	if v > 1<<63-1 {
		return 0, false
	}
	return int64(v), true
}
