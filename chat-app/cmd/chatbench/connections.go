package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"
)

const (
	connsPerUser = 100 // connections per signed-up user (its devices): sign-up (bcrypt) stays cheap
	fdReserve    = 256 // descriptors kept for everything but the sockets (logs, HTTP, the runtime)
)

// connResult is scenario (a): how many authenticated sockets one node held and what they cost.
type connResult struct {
	requested, conns, users int
	fdLimit                 uint64
	lowered                 string // why conns < requested ("" when not)
	open                    time.Duration
	rssBefore, rssAfter     float64 // MiB
	closed                  int     // sockets the server closed while held
}

func (c *connResult) perConnKiB() float64 {
	if c.conns == 0 {
		return 0
	}
	return (c.rssAfter - c.rssBefore) * 1024 / float64(c.conns)
}

func (c *connResult) setup(env envInfo) string {
	return fmt.Sprintf("%d authenticated WebSocket connections (%d users, up to %d devices each) on one chat process (in-memory store); "+
		"RLIMIT_NOFILE %d; machine: %d CPUs, %s", c.conns, c.users, connsPerUser, c.fdLimit, env.CPUs, env.GoVersion)
}

func (c *connResult) table() string {
	var b strings.Builder
	b.WriteString("| connections | users | time to open | opened/s | server RSS before MiB | server RSS after MiB | RSS delta MiB | memory per connection | closed by server |\n")
	b.WriteString("|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	fmt.Fprintf(&b, "| %d | %d | %s | %.0f | %.1f | %.1f | %.1f | %.1f KiB | %d |\n",
		c.conns, c.users, c.open.Round(time.Millisecond), float64(c.conns)/c.open.Seconds(), c.rssBefore, c.rssAfter,
		c.rssAfter-c.rssBefore, c.perConnKiB(), c.closed)
	return b.String()
}

func (c *connResult) notes() []string {
	if c.lowered != "" {
		return []string{"N lowered: " + c.lowered}
	}
	return nil
}

// raiseFDLimit raises the soft RLIMIT_NOFILE to the hard limit (children inherit it) and returns it.
func raiseFDLimit() (uint64, error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, err
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
			return 0, err
		}
	}
	return l.Cur, nil
}

// runConnections starts cmd/chat, signs up ceil(N/100) users and opens N authenticated sockets
// (each a device of one of them), measures the server's RSS before and after, then closes them.
func runConnections(ctx context.Context, p progress, o options, bin, dir string) (*connResult, error) {
	res := &connResult{requested: o.conns, conns: o.conns}
	limit, err := raiseFDLimit()
	if err != nil {
		return nil, fmt.Errorf("RLIMIT_NOFILE: %w", err)
	}
	res.fdLimit = limit
	// Both this process (client ends) and the server (its ends) hold one descriptor per socket.
	if uint64(res.conns)+fdReserve > limit {
		if limit <= fdReserve {
			return nil, fmt.Errorf("RLIMIT_NOFILE is %d: too low for any connection", limit)
		}
		res.conns = int(limit - fdReserve)
		res.lowered = fmt.Sprintf("-conns %d lowered to %d: the file-descriptor limit (hard RLIMIT_NOFILE) is %d, and %d are kept for everything else",
			res.requested, res.conns, limit, fdReserve)
		p.printf("connections: %s", res.lowered)
	}
	res.users = (res.conns + connsPerUser - 1) / connsPerUser

	srv, addr, err := startServer(ctx, dir, "chat-connections", bin, "HTTP_ADDR",
		[]string{"DATABASE_URL=", "REDIS_URL=", "JWT_SECRET=", "KEY_PREFIX=", "LOGIN_PER_MINUTE=0", "LOG_LEVEL=warn",
			fmt.Sprintf("MAX_SESSIONS_PER_USER=%d", connsPerUser)}) // every device of a user stays open
	if err != nil {
		return nil, err
	}
	defer func() { _ = srv.Stop(10 * time.Second) }()
	base := "http://" + addr
	p.printf("connections: chat ready on %s (pid %d, RLIMIT_NOFILE %d); signing up %d users", addr, srv.Pid(), limit, res.users)
	_, tokens, err := signupMany(ctx, base, res.users, "c")
	if err != nil {
		return nil, err
	}
	time.Sleep(time.Second) // let the sign-ups' garbage be collected before the baseline
	res.rssBefore = procRSSMB(srv.Pid())
	p.printf("connections: server RSS %.1f MiB; opening %d connections ...", res.rssBefore, res.conns)

	socks := make([]*websocket.Conn, res.conns)
	var readers sync.WaitGroup
	var closed atomic.Int64
	defer func() {
		for _, ws := range socks {
			if ws != nil {
				_ = ws.CloseNow()
			}
		}
		readers.Wait()
	}()
	var next, opened atomic.Int64
	var firstErr error
	var errOnce sync.Once
	octx, ocancel := context.WithCancel(ctx)
	defer ocancel()
	start := time.Now()
	stopProgress := make(chan struct{})
	go func() {
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stopProgress:
				return
			case <-t.C:
				p.printf("  %d connections open", opened.Load())
			}
		}
	}()
	var dialers sync.WaitGroup
	for range 32 {
		dialers.Add(1)
		go func() {
			defer dialers.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= res.conns || octx.Err() != nil {
					return
				}
				ws, err := oursDial(octx, addr, tokens[i%len(tokens)])
				if err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("connection %d: %w", i, err) })
					ocancel()
					return
				}
				socks[i] = ws
				opened.Add(1)
				readers.Add(1)
				go func() { // keep reading, so the server never sees a slow consumer
					defer readers.Done()
					for {
						if _, _, err := ws.Read(context.Background()); err != nil {
							if websocket.CloseStatus(err) >= 4000 {
								closed.Add(1)
							}
							return
						}
					}
				}()
			}
		}()
	}
	dialers.Wait()
	res.open = time.Since(start)
	close(stopProgress)
	if firstErr != nil {
		return nil, fmt.Errorf("%w (%d opened; server log: %s)", firstErr, opened.Load(), filepath.Join(dir, "chat-connections.log"))
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p.printf("connections: %d open in %s (%.0f/s); holding them ...", res.conns, res.open.Round(time.Millisecond), float64(res.conns)/res.open.Seconds())

	// Application heartbeats (the server closes a socket silent for two heartbeats).
	ping := func() {
		for _, ws := range socks {
			wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_ = ws.Write(wctx, websocket.MessageText, []byte(`{"type":"ping"}`))
			cancel()
		}
	}
	ping()
	hold := 3 * time.Second
	select {
	case <-time.After(hold):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	res.rssAfter = procRSSMB(srv.Pid())
	res.closed = int(closed.Load())
	if exited, _ := srv.Exited(); exited {
		return nil, fmt.Errorf("chat exited while holding the connections; its log: %s", filepath.Join(dir, "chat-connections.log"))
	}
	p.printf("connections: server RSS %.1f MiB after (%.1f KiB per connection); closing them", res.rssAfter, res.perConnKiB())

	var closers sync.WaitGroup
	var ci atomic.Int64
	for range 64 {
		closers.Add(1)
		go func() {
			defer closers.Done()
			for {
				i := int(ci.Add(1) - 1)
				if i >= len(socks) {
					return
				}
				_ = socks[i].Close(websocket.StatusNormalClosure, "bye")
			}
		}()
	}
	closers.Wait()
	readers.Wait()
	runtime.GC()
	return res, nil
}

// signupMany signs up n users (in parallel, bcrypt is the cost) and returns their tokens.
// signupMany signs up n users (fresh names, so a PostgreSQL store can be reused) and returns
// their IDs and tokens.
func signupMany(ctx context.Context, base string, n int, tag string) (ids, tokens []string, err error) {
	run := fmt.Sprintf("%x", time.Now().UnixNano()&0xffffff)
	ids, tokens = make([]string, n), make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, max(2, runtime.NumCPU()))
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			var a struct {
				User struct {
					ID string `json:"id"`
				} `json:"user"`
				Token string `json:"token"`
			}
			errs[i] = postJSON(ctx, base+"/v1/signup", "", map[string]string{"username": fmt.Sprintf("%s%s_%05d", tag, run, i),
				"display_name": fmt.Sprintf("Bench %d", i), "password": "bench password 123"}, &a, http.StatusCreated)
			ids[i], tokens[i] = a.User.ID, a.Token
		}()
	}
	wg.Wait()
	return ids, tokens, errors.Join(errs...)
}

// benchGroup signs up n users and puts them in one group created by the first; it returns the
// users' tokens and the group's ID.
func benchGroup(ctx context.Context, base string, n int, tag string) (tokens []string, conv string, err error) {
	ids, tokens, err := signupMany(ctx, base, n, tag)
	if err != nil {
		return nil, "", err
	}
	var c struct {
		ID string `json:"id"`
	}
	err = postJSON(ctx, base+"/v1/conversations/group", tokens[0], map[string]any{"title": "bench", "member_ids": ids[1:]},
		&c, http.StatusCreated)
	return tokens, c.ID, err
}
