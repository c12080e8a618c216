package resp

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Options configure a Server. Zero fields take the defaults in brackets.
type Options struct {
	Addr        string        // ListenAndServe address [":8201"]
	Logger      *slog.Logger  // [discard]
	MaxBulk     int           // longest argument in bytes [16 MiB]
	MaxArgs     int           // most arguments in one command [1Mi]
	MaxConns    int           // open connections; more are refused like Redis's maxclients [10000]
	IdleTimeout time.Duration // close a connection silent this long; < 0: never [10m]
	// WriteTimeout bounds each write of replies, so a client that stops reading cannot pin a
	// goroutine and its buffers; < 0: never [30s].
	WriteTimeout time.Duration
	// ShutdownTimeout bounds how long Serve waits, once its context is cancelled, for
	// connections to finish their in-flight commands before closing them [5s].
	ShutdownTimeout time.Duration
	// MaxScanCursors bounds the SCAN cursor table (see cursorTable) [10000 cursors, 64 MiB of keys].
	MaxScanCursors int
	Now            func() time.Time      // the clock turning EX/EXPIRE into absolute expiry [time.Now]
	Registerer     prometheus.Registerer // where metrics are registered [nil: not registered]
	Version        string                // kvdb build, shown by INFO ["dev"]
	// Password, when set, must be given with AUTH (or HELLO ... AUTH) before any other
	// command, like Redis's requirepass [empty: no authentication].
	Password string
}

const (
	defaultAddr            = ":8201"
	defaultMaxConns        = 10000
	defaultIdleTimeout     = 10 * time.Minute
	defaultWriteTimeout    = 30 * time.Second
	defaultShutdownTimeout = 5 * time.Second
	defaultMaxScanCursors  = 10000
	maxScanCursorBytes     = 64 << 20

	// Per-connection buffers. Redis reads 16 KiB at a time; 8 KiB holds a -P 16 pipeline of
	// small commands many times over while costing 16 KiB per idle connection. Larger
	// arguments and replies bypass the buffers.
	readBufSize  = 8 << 10
	writeBufSize = 8 << 10
)

// Server serves a Store over RESP2, one goroutine per connection.
type Server struct {
	store    Store
	opts     Options
	log      *slog.Logger
	limits   Limits
	metrics  *metrics
	cursors  *cursorTable
	started  time.Time
	appender ValueAppender // the store, when it is one
	// passwordHash is sha256(Options.Password), compared in constant time.
	passwordHash [sha256.Size]byte

	nextID    atomic.Int64
	processed atomic.Int64 // commands, for INFO
	accepted  atomic.Int64 // connections, for INFO

	mu    sync.Mutex
	conns map[*conn]struct{}
}

// New returns a Server for store. It fails only when the metrics cannot be registered.
func New(store Store, opts Options) (*Server, error) {
	if store == nil {
		return nil, errors.New("resp: nil store")
	}
	if opts.Addr == "" {
		opts.Addr = defaultAddr
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = defaultMaxConns
	}
	if opts.IdleTimeout == 0 {
		opts.IdleTimeout = defaultIdleTimeout
	}
	if opts.WriteTimeout == 0 {
		opts.WriteTimeout = defaultWriteTimeout
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = defaultShutdownTimeout
	}
	if opts.MaxScanCursors <= 0 {
		opts.MaxScanCursors = defaultMaxScanCursors
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Version == "" {
		opts.Version = "dev"
	}
	m, err := newMetrics(opts.Registerer, metricNames())
	if err != nil {
		return nil, err
	}
	appender, _ := store.(ValueAppender)
	return &Server{
		appender:     appender,
		store:        store,
		opts:         opts,
		log:          opts.Logger,
		limits:       Limits{MaxBulk: opts.MaxBulk, MaxArgs: opts.MaxArgs}.withDefaults(),
		metrics:      m,
		cursors:      newCursorTable(opts.MaxScanCursors, maxScanCursorBytes),
		started:      time.Now(),
		conns:        make(map[*conn]struct{}),
		passwordHash: sha256.Sum256([]byte(opts.Password)),
	}, nil
}

// ListenAndServe listens on Options.Addr and serves until ctx is cancelled (see Serve).
func (s *Server) ListenAndServe(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("resp listen %s: %w", s.opts.Addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve accepts connections on ln until ctx is cancelled, then shuts down gracefully: it stops
// accepting, lets every connection finish the commands it has already received, closes
// connections as they go idle, and after ShutdownTimeout closes whatever is left. It closes ln.
// It returns nil after a shutdown, or the error that stopped Accept.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.log.Info("resp server listening", "addr", ln.Addr().String())
	stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
	defer stop()

	var wg sync.WaitGroup
	var acceptErr error
	backoff := time.Duration(0)
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			if errors.Is(err, net.ErrClosed) {
				acceptErr = fmt.Errorf("resp accept: %w", err)
				break
			}
			// EMFILE and friends pass: wait a little instead of spinning, as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("resp accept", "err", err, "retry_in", backoff)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
			}
			continue
		}
		backoff = 0
		c := s.register(nc)
		if c == nil {
			continue
		}
		wg.Go(c.serve)
	}
	s.drain(&wg)
	return acceptErr
}

// register tracks a new connection, or refuses it when MaxConns are open.
func (s *Server) register(nc net.Conn) *conn {
	s.accepted.Add(1)
	s.mu.Lock()
	full := len(s.conns) >= s.opts.MaxConns
	var c *conn
	if !full {
		c = s.newConn(nc)
		s.conns[c] = struct{}{}
	}
	s.mu.Unlock()
	if full {
		s.metrics.rejected.Inc()
		s.log.Warn("resp connection refused: max clients reached", "remote", nc.RemoteAddr().String(), "max_conns", s.opts.MaxConns)
		_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = io.WriteString(nc, "-ERR max number of clients reached\r\n")
		_ = nc.Close()
		return nil
	}
	s.metrics.connections.Inc()
	return c
}

func (s *Server) unregister(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.metrics.connections.Dec()
}

func (s *Server) numConns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// drain runs after Accept stopped: it asks every connection to stop, waits up to
// ShutdownTimeout, then closes the stragglers (a client not reading its replies, a command
// blocked in the Store). It does not wait for a goroutine stuck inside the Store: that one
// ends when the Store call returns, and its reply goes nowhere.
func (s *Server) drain(wg *sync.WaitGroup) {
	s.mu.Lock()
	n := len(s.conns)
	for c := range s.conns {
		c.stop()
	}
	s.mu.Unlock()
	s.log.Info("resp server shutting down", "connections", n)

	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	timer := time.NewTimer(s.opts.ShutdownTimeout)
	defer timer.Stop()
	select {
	case <-done:
		return
	case <-timer.C:
	}
	s.mu.Lock()
	s.log.Warn("resp shutdown timeout: closing connections", "connections", len(s.conns), "timeout", s.opts.ShutdownTimeout)
	for c := range s.conns {
		_ = c.nc.Close()
	}
	s.mu.Unlock()
}

// errStopping ends a connection's reads when the server shuts down.
var errStopping = errors.New("resp: server shutting down")

// conn is one client connection. The fields above mu belong to the connection's goroutine;
// mu guards stopping, which the shutdown path sets through stop.
type conn struct {
	srv  *Server
	nc   net.Conn
	id   int64
	r    *Reader
	bw   *bufio.Writer
	w    *Writer
	name string

	quit   bool // QUIT: close after flushing
	abort  bool // not a RESP client (see cmdCrossProtocol): close at once
	authed bool // AUTH passed, or no password is set
	// writeErr is the first failed write: the client is gone or not reading, so the commands
	// still buffered from it are not run (bufio.Writer would swallow their replies).
	writeErr error
	failed   bool     // the current command replied with an error
	cmd      *command // the command being executed
	values   []Value  // MGET results, reused
	value    []byte   // GET's value buffer, reused (see ValueAppender)

	// batch gathers the SETs of a pipeline into one commit (nil when the Store is no
	// Batcher); pending is how many SETs it holds, whose replies are not written yet.
	batch    SetBatch
	pending  int
	deferred bool // the current command is one of those SETs

	mu       sync.Mutex
	stopping bool
}

func (s *Server) newConn(nc net.Conn) *conn {
	c := &conn{srv: s, nc: nc, id: s.nextID.Add(1), authed: s.opts.Password == ""}
	c.r = NewReader(bufio.NewReaderSize(c, readBufSize), s.limits)
	c.bw = bufio.NewWriterSize(c, writeBufSize)
	c.w = NewWriter(c.bw)
	if b, ok := s.store.(Batcher); ok {
		c.batch = b.NewSetBatch()
	}
	return c
}

// Read feeds the Reader's bufio.Reader. bufio calls it only when every buffered byte has been
// parsed and executed, which is exactly when the replies so far should go out: one write per
// pipeline, like Redis's one write per read event, and never a reply held back while the
// server waits for input.
func (c *conn) Read(p []byte) (int, error) {
	c.commitPending() // the pipeline received so far ends here
	if c.bw.Buffered() > 0 {
		if err := c.flush(); err != nil {
			return 0, err
		}
	}
	c.mu.Lock()
	if c.stopping {
		c.mu.Unlock()
		return 0, errStopping
	}
	if t := c.srv.opts.IdleTimeout; t > 0 {
		_ = c.nc.SetReadDeadline(time.Now().Add(t))
	}
	c.mu.Unlock()
	n, err := c.nc.Read(p)
	if err != nil && c.isStopping() {
		err = errStopping // the deadline stop set, not an idle client
	}
	return n, err
}

func (c *conn) isStopping() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stopping
}

// Write is where the reply buffer drains to: on Flush, when it fills up, and directly for
// large bulk strings. Each write gets its own deadline; one set at the last Flush may have long
// passed on a connection that sat idle.
func (c *conn) Write(p []byte) (int, error) {
	if t := c.srv.opts.WriteTimeout; t > 0 {
		_ = c.nc.SetWriteDeadline(time.Now().Add(t))
	}
	n, err := c.nc.Write(p)
	if err != nil && c.writeErr == nil {
		c.writeErr = err
	}
	return n, err
}

func (c *conn) flush() error {
	if err := c.bw.Flush(); err != nil {
		return fmt.Errorf("write replies: %w", err)
	}
	return nil
}

// stop makes the connection finish: a read in progress returns at once (the deadline), and
// the next one returns errStopping, after the replies to the commands already received are
// flushed. mu orders it with Read's deadline update, so that one cannot undo it.
func (c *conn) stop() {
	c.mu.Lock()
	c.stopping = true
	_ = c.nc.SetReadDeadline(time.Now())
	c.mu.Unlock()
}

func (c *conn) serve() {
	log := c.srv.log.With("conn", c.id, "remote", c.nc.RemoteAddr().String())
	log.Debug("resp connection opened")
	defer func() {
		_ = c.nc.Close()
		c.srv.unregister(c)
	}()
	for {
		args, err := c.r.ReadCommand()
		if err != nil {
			c.readFailed(log, err)
			return
		}
		c.execute(args)
		if c.writeErr != nil {
			log.Debug("resp connection closed", "reason", c.writeErr)
			return
		}
		if c.abort {
			return
		}
		if c.quit {
			if err := c.flush(); err != nil {
				log.Debug("resp connection closed", "reason", err)
				return
			}
			log.Debug("resp connection closed", "reason", "quit")
			return
		}
	}
}

// readFailed ends the connection: after a protocol error it tells the client why, as Redis does.
func (c *conn) readFailed(log *slog.Logger, err error) {
	c.commitPending() // the SETs before a malformed command were received whole
	var pe *ProtocolError
	var ne net.Error
	switch {
	case errors.As(err, &pe):
		c.w.Error("ERR " + pe.Error())
		log.Info("resp protocol error", "err", err)
	case errors.Is(err, io.EOF), errors.Is(err, errStopping):
		log.Debug("resp connection closed", "reason", err)
	case errors.As(err, &ne) && ne.Timeout():
		log.Debug("resp connection closed", "reason", "idle timeout")
	default:
		log.Debug("resp connection closed", "reason", err)
	}
	if c.bw.Buffered() > 0 {
		_ = c.flush()
	}
}

// execute runs one command and records its metrics.
func (c *conn) execute(args [][]byte) {
	start := time.Now()
	c.failed, c.deferred = false, false
	idx := unknownIndex
	c.cmd = lookupCommand(args[0])
	if c.cmd != setCommand {
		// Whatever this command reads or replies comes after the pipeline's SETs.
		c.commitPending()
	}
	if cmd := c.cmd; cmd == nil {
		c.unknownCommand(args)
	} else {
		idx = cmd.index
		switch {
		case !cmd.arityOK(len(args)):
			c.arityError(cmd.name)
		case !c.authed && !cmd.noAuth:
			c.errorReply("NOAUTH Authentication required.")
		default:
			cmd.run(c, args)
		}
	}
	c.srv.processed.Add(1)
	if c.deferred {
		return // counted by commitPending
	}
	m := c.srv.metrics
	if c.failed {
		m.failed[idx].Inc()
	} else {
		m.ok[idx].Inc()
	}
	m.duration[idx].Observe(time.Since(start).Seconds())
}

// commitPending commits the pipelined SETs waiting in c.batch and writes their replies, which
// come before any later reply: +OK each, or each the commit's error. A crash before the commit
// loses only SETs that were never acknowledged (ADR 0004).
func (c *conn) commitPending() {
	n := c.pending
	if n == 0 {
		return
	}
	c.pending = 0
	start := time.Now()
	err := c.batch.Commit()
	d := time.Since(start).Seconds()
	m, idx := c.srv.metrics, setCommand.index
	if err != nil {
		c.srv.log.Warn("resp store error", "conn", c.id, "command", "set", "pipelined", n, "err", err)
		for range n {
			c.w.Error("ERR " + err.Error())
		}
		m.failed[idx].Add(float64(n))
	} else {
		for range n {
			c.w.OK()
		}
		m.ok[idx].Add(float64(n))
	}
	for range n {
		m.duration[idx].Observe(d)
	}
}

// errorReply sends an error reply; msg starts with its code ("ERR ..."). A SET with bad
// options in a pipeline answers after the SETs before it.
func (c *conn) errorReply(msg string) {
	c.commitPending()
	c.failed = true
	c.w.Error(msg)
}

func (c *conn) errorf(format string, args ...any) {
	c.errorReply(fmt.Sprintf(format, args...))
}

// storeError reports a Store failure to the client. The server, not a caller, owns this error,
// so it is also logged here.
func (c *conn) storeError(cmd string, err error) {
	c.srv.log.Warn("resp store error", "conn", c.id, "command", cmd, "err", err)
	c.errorReply("ERR " + err.Error())
}
