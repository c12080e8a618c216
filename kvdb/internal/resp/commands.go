package resp

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"maps"
	"math"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// command is one entry of the command table.
type command struct {
	name  string // lower case, as Redis names commands in errors
	arity int    // Redis convention: N exact argument count (name included), -N at least N
	run   func(c *conn, args [][]byte)
	index int // into the metrics slices
	// noAuth: allowed before AUTH when a password is set (Redis's CMD_NO_AUTH).
	noAuth bool
}

func (cmd *command) arityOK(n int) bool {
	if cmd.arity >= 0 {
		return n == cmd.arity
	}
	return n >= -cmd.arity
}

// commandTable is the read-only dispatch table, filled once by init from commandList.
var commandTable = map[string]*command{}

// unknownIndex is the metrics slot of commands the server does not know.
var unknownIndex int

// setCommand is SET's entry: the one command whose replies may wait for a batch commit.
var setCommand *command

// maxPendingBytes bounds the keys and values of pipelined SETs waiting for one commit; the
// engine's commit leader takes up to 128 KiB behind a small batch without making it wait.
const maxPendingBytes = 128 << 10

var commandList = []command{
	{name: "ping", arity: -1, run: cmdPing},
	{name: "echo", arity: 2, run: cmdEcho},
	{name: "get", arity: 2, run: cmdGet},
	{name: "set", arity: -3, run: cmdSet},
	{name: "del", arity: -2, run: cmdDel},
	{name: "exists", arity: -2, run: cmdExists},
	{name: "mget", arity: -2, run: cmdMGet},
	{name: "mset", arity: -3, run: cmdMSet},
	{name: "expire", arity: -3, run: cmdExpire},
	{name: "pexpire", arity: -3, run: cmdExpire},
	{name: "expireat", arity: -3, run: cmdExpire},
	{name: "pexpireat", arity: -3, run: cmdExpire},
	{name: "ttl", arity: 2, run: cmdTTL},
	{name: "pttl", arity: 2, run: cmdTTL},
	{name: "expiretime", arity: 2, run: cmdTTL},
	{name: "pexpiretime", arity: 2, run: cmdTTL},
	{name: "scan", arity: -2, run: cmdScan},
	{name: "dbsize", arity: 1, run: cmdDBSize},
	{name: "command", arity: -1, run: cmdCommand},
	{name: "config", arity: -2, run: cmdConfig},
	{name: "client", arity: -2, run: cmdClient},
	{name: "hello", arity: -1, run: cmdHello, noAuth: true},
	{name: "auth", arity: -2, run: cmdAuth, noAuth: true},
	{name: "select", arity: 2, run: cmdSelect},
	{name: "info", arity: -1, run: cmdInfo},
	{name: "quit", arity: -1, run: cmdQuit, noAuth: true},
	// An HTTP request sent to this port (a browser tricked by a web page, SSRF) reads as inline
	// commands "POST / HTTP/1.1", "Host: ...": both end the connection before any later line
	// runs, as Redis's securityWarningCommand does.
	{name: "post", arity: -1, run: cmdCrossProtocol, noAuth: true},
	{name: "host:", arity: -1, run: cmdCrossProtocol, noAuth: true},
}

func init() {
	for i := range commandList {
		cmd := &commandList[i]
		cmd.index = i
		commandTable[cmd.name] = cmd
	}
	unknownIndex = len(commandList)
	setCommand = commandTable["set"]
}

// metricNames lists the command label values by metrics index.
func metricNames() []string {
	names := make([]string, 0, len(commandList)+1)
	for _, cmd := range commandList {
		names = append(names, cmd.name)
	}
	return append(names, "unknown")
}

// lookupCommand finds a command by name, case-insensitively and without allocating: the name
// is lowered into a stack buffer, and indexing a map with string(bytes) does not copy.
func lookupCommand(name []byte) *command {
	var buf [32]byte
	if len(name) > len(buf) {
		return nil
	}
	for i, ch := range name {
		if 'A' <= ch && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		buf[i] = ch
	}
	return commandTable[string(buf[:len(name)])]
}

// Replies whose text clients and tests know from Redis.
const (
	errSyntax      = "ERR syntax error"
	errNotInteger  = "ERR value is not an integer or out of range"
	errInvalidCurs = "ERR invalid cursor"
)

func (c *conn) arityError(name string) {
	c.errorf("ERR wrong number of arguments for '%s' command", name)
}

// unknownCommand replies in Redis's words, quoting the first arguments (at most ~128 bytes).
func (c *conn) unknownCommand(args [][]byte) {
	var b strings.Builder
	for i := 1; i < len(args) && b.Len() < 128; i++ {
		fmt.Fprintf(&b, "'%.*s' ", 128-b.Len(), args[i])
	}
	c.errorf("ERR unknown command '%.128s', with args beginning with: %s", args[0], b.String())
}

func (c *conn) unknownSubcommand(cmd string, sub []byte) {
	c.errorf("ERR unknown subcommand '%.128s'. Try %s HELP.", sub, strings.ToUpper(cmd))
}

// is reports whether arg equals the lower-case word, ignoring case, without allocating.
func is(arg []byte, word string) bool {
	if len(arg) != len(word) {
		return false
	}
	for i := 0; i < len(arg); i++ {
		ch := arg[i]
		if 'A' <= ch && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		if ch != word[i] {
			return false
		}
	}
	return true
}

func cmdPing(c *conn, args [][]byte) {
	switch len(args) {
	case 1:
		c.w.SimpleString("PONG")
	case 2:
		c.w.Bulk(args[1])
	default:
		c.arityError("ping")
	}
}

func cmdEcho(c *conn, args [][]byte) { c.w.Bulk(args[1]) }

func cmdGet(c *conn, args [][]byte) {
	var v []byte
	var ok bool
	var err error
	if a := c.srv.appender; a != nil {
		v, ok, err = a.GetAppend(c.value[:0], args[1])
		if ok && cap(v) <= retainBuf {
			c.value = v[:0] // a big value is not kept for the next GET
		}
	} else {
		v, ok, err = c.srv.store.Get(args[1])
	}
	switch {
	case err != nil:
		c.storeError("get", err)
	case !ok:
		c.w.Null()
	default:
		c.w.Bulk(v)
	}
}

// expiry is a parsed time argument of SET or EXPIRE.
type expiry struct {
	unit     int64 // milliseconds per unit: 1000 (seconds) or 1
	absolute bool  // EXAT/PXAT/EXPIREAT/PEXPIREAT: n is a Unix time
}

// at turns n into an absolute expiry the way Redis does (reject overflow of the int64
// millisecond arithmetic), then clamps it to the range a Store accepts. ok=false means
// "invalid expire time".
func (e expiry) at(now time.Time, n int64) (time.Time, bool) {
	if e.unit == 1000 && (n > math.MaxInt64/1000 || n < math.MinInt64/1000) {
		return time.Time{}, false
	}
	ms := n * e.unit
	if e.absolute {
		return clampExpiry(time.UnixMilli(ms)), true
	}
	if ms > 0 && now.UnixMilli() > math.MaxInt64-ms {
		return time.Time{}, false
	}
	// now.Add keeps the clock's sub-millisecond part; a Duration cannot hold more than ~292 years.
	const maxMs = math.MaxInt64 / int64(time.Millisecond)
	switch {
	case ms > maxMs:
		return maxExpiry, true
	case ms < -maxMs:
		return minExpiry, true
	}
	return clampExpiry(now.Add(time.Duration(ms) * time.Millisecond)), true
}

// cmdSet: SET key value [NX|XX] [GET] [EX s|PX ms|EXAT unix-s|PXAT unix-ms|KEEPTTL].
// Options are checked before the expire value, as in Redis's parseExtendedStringArgumentsOrReply.
func cmdSet(c *conn, args [][]byte) {
	var opts SetOptions
	var exp expiry
	var expArg []byte
	for i := 3; i < len(args); i++ {
		a, hasNext := args[i], i+1 < len(args)
		switch {
		case is(a, "nx") && !opts.XX:
			opts.NX = true
		case is(a, "xx") && !opts.NX:
			opts.XX = true
		case is(a, "get"):
			opts.Get = true
		case is(a, "keepttl") && expArg == nil:
			opts.KeepTTL = true
		case hasNext && expArg == nil && !opts.KeepTTL && (is(a, "ex") || is(a, "px") || is(a, "exat") || is(a, "pxat")):
			exp.unit = 1
			if a[0]|0x20 == 'e' {
				exp.unit = 1000
			}
			exp.absolute = len(a) == 4
			i++
			expArg = args[i]
		default:
			c.errorReply(errSyntax)
			return
		}
	}
	if expArg != nil {
		n, ok := parseInt(expArg)
		if !ok {
			c.errorReply(errNotInteger)
			return
		}
		at, ok := exp.at(c.srv.opts.Now(), n)
		if !ok || n <= 0 {
			c.errorReply("ERR invalid expire time in 'set' command")
			return
		}
		opts.ExpireAt = at
	}
	if c.batch != nil && !opts.NX && !opts.XX && !opts.Get && !opts.KeepTTL && (c.pending > 0 || c.r.Buffered() > 0) {
		// More input is waiting: a pipeline. Join this SET to the connection's batch; its
		// reply is written when the batch commits (see commitPending).
		c.batch.Set(args[1], args[2], opts.ExpireAt)
		c.pending++
		c.deferred = true
		if c.batch.Size() >= maxPendingBytes {
			c.commitPending()
		}
		return
	}
	c.commitPending() // SET NX/XX/GET must see the SETs before it
	res, err := c.srv.store.Set(args[1], args[2], opts)
	switch {
	case err != nil:
		c.storeError("set", err)
	case opts.Get && res.OldFound:
		c.w.Bulk(res.Old)
	case opts.Get, !res.Written:
		c.w.Null()
	default:
		c.w.OK()
	}
}

func cmdDel(c *conn, args [][]byte) {
	n, err := c.srv.store.Delete(args[1:])
	if err != nil {
		c.storeError("del", err)
		return
	}
	c.w.Int(int64(n))
}

func cmdExists(c *conn, args [][]byte) {
	n, err := c.srv.store.Exists(args[1:])
	if err != nil {
		c.storeError("exists", err)
		return
	}
	c.w.Int(int64(n))
}

func cmdMGet(c *conn, args [][]byte) {
	vals, err := c.srv.store.MGet(c.values[:0], args[1:])
	if err != nil {
		c.storeError("mget", err)
		return
	}
	c.w.ArrayLen(len(vals))
	for _, v := range vals {
		if v.Found {
			c.w.Bulk(v.Bytes)
		} else {
			c.w.Null()
		}
	}
	clear(vals) // do not pin values until the next MGET
	if cap(vals) <= 1024 {
		c.values = vals[:0]
	}
}

func cmdMSet(c *conn, args [][]byte) {
	if len(args)%2 == 0 {
		c.arityError("mset")
		return
	}
	if err := c.srv.store.MSet(args[1:]); err != nil {
		c.storeError("mset", err)
		return
	}
	c.w.OK()
}

// cmdExpire: EXPIRE/PEXPIRE/EXPIREAT/PEXPIREAT key time [NX|XX|GT|LT].
func cmdExpire(c *conn, args [][]byte) {
	name := c.cmd.name
	exp := expiry{unit: 1, absolute: strings.HasSuffix(name, "at")}
	if name[0] == 'e' {
		exp.unit = 1000
	}
	var cond ExpireCond
	for _, a := range args[3:] {
		switch {
		case is(a, "nx"):
			cond |= ExpireNX
		case is(a, "xx"):
			cond |= ExpireXX
		case is(a, "gt"):
			cond |= ExpireGT
		case is(a, "lt"):
			cond |= ExpireLT
		default:
			c.errorf("ERR Unsupported option %s", a)
			return
		}
	}
	if cond&ExpireNX != 0 && cond&(ExpireXX|ExpireGT|ExpireLT) != 0 {
		c.errorReply("ERR NX and XX, GT or LT options at the same time are not compatible")
		return
	}
	if cond&ExpireGT != 0 && cond&ExpireLT != 0 {
		c.errorReply("ERR GT and LT options at the same time are not compatible")
		return
	}
	n, ok := parseInt(args[2])
	if !ok {
		c.errorReply(errNotInteger)
		return
	}
	at, ok := exp.at(c.srv.opts.Now(), n)
	if !ok {
		c.errorf("ERR invalid expire time in '%s' command", name)
		return
	}
	set, err := c.srv.store.Expire(args[1], at, cond)
	if err != nil {
		c.storeError(name, err)
		return
	}
	if set {
		c.w.Int(1)
	} else {
		c.w.Int(0)
	}
}

// cmdTTL: TTL, PTTL (remaining time) and EXPIRETIME, PEXPIRETIME (absolute Unix time).
// -2: no such key, -1: no expiry. Seconds are rounded to nearest, as Redis does.
func cmdTTL(c *conn, args [][]byte) {
	name := c.cmd.name
	at, ok, err := c.srv.store.ExpireTime(args[1])
	switch {
	case err != nil:
		c.storeError(name, err)
		return
	case !ok:
		c.w.Int(-2)
		return
	case at.IsZero():
		c.w.Int(-1)
		return
	}
	var ms int64
	if strings.HasSuffix(name, "expiretime") {
		ms = at.UnixMilli()
	} else {
		ms = max(at.Sub(c.srv.opts.Now()).Milliseconds(), 0)
	}
	if name[0] != 'p' {
		ms = (ms + 500) / 1000
	}
	c.w.Int(ms)
}

// maxScanCount caps SCAN's COUNT, a hint of work per call, so a Store is never asked for
// an absurd batch.
const maxScanCount = 1 << 20

// cmdScan: SCAN cursor [MATCH pattern] [COUNT count] [TYPE type].
func cmdScan(c *conn, args [][]byte) {
	cursor, ok := parseCursor(args[1])
	if !ok {
		c.errorReply(errInvalidCurs)
		return
	}
	count := int64(10)
	var pattern []byte
	usePattern := false
	typeOK := true
	for i := 2; i < len(args); i++ {
		if i+1 >= len(args) {
			c.errorReply(errSyntax)
			return
		}
		a, v := args[i], args[i+1]
		i++
		switch {
		case is(a, "count"):
			n, ok := parseInt(v)
			if !ok {
				c.errorReply(errNotInteger)
				return
			}
			if n < 1 {
				c.errorReply(errSyntax)
				return
			}
			count = min(n, maxScanCount)
		case is(a, "match"):
			// A lone "*" is no filter at all, as in Redis (where it also matches the empty key).
			pattern, usePattern = v, !(len(v) == 1 && v[0] == '*')
		case is(a, "type"):
			typeOK = is(v, "string") // every kvdb value is a string
		default:
			c.errorReply(errSyntax)
			return
		}
	}
	var after []byte
	if cursor != 0 {
		if after, ok = c.srv.cursors.get(cursor); !ok {
			c.errorReply(errInvalidCurs + " (unknown or expired)")
			return
		}
	}
	var prefix []byte
	if usePattern {
		prefix = globPrefix(pattern)
	}
	keys, done, err := c.srv.store.Scan(after, prefix, int(count))
	if err != nil {
		c.storeError("scan", err)
		return
	}
	next := uint64(0)
	if !done && len(keys) > 0 {
		next = c.srv.cursors.put(keys[len(keys)-1])
	}
	matched := keys[:0]
	for _, k := range keys {
		if typeOK && (!usePattern || globMatch(pattern, k)) {
			matched = append(matched, k)
		}
	}
	c.w.ArrayLen(2)
	var buf [20]byte
	c.w.Bulk(strconv.AppendUint(buf[:0], next, 10))
	c.w.ArrayLen(len(matched))
	for _, k := range matched {
		c.w.Bulk(k)
	}
}

// parseCursor parses a SCAN cursor: an unsigned decimal, as Redis's strtoul check accepts.
func parseCursor(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	v, err := strconv.ParseUint(string(b), 10, 64)
	return v, err == nil
}

func cmdDBSize(c *conn, _ [][]byte) {
	sz, ok := c.srv.store.(Sizer)
	if !ok {
		c.errorReply("ERR DBSIZE is not supported by this store")
		return
	}
	n, err := sz.Len()
	if err != nil {
		c.storeError("dbsize", err)
		return
	}
	c.w.Int(int64(n))
}

// cmdCommand answers what redis-cli asks on start-up (COMMAND DOCS, for its hints) with little:
// an empty reply makes clients fall back to their built-in command knowledge.
func cmdCommand(c *conn, args [][]byte) {
	if len(args) == 1 {
		c.w.ArrayLen(0)
		return
	}
	switch sub := args[1]; {
	case is(sub, "docs"):
		c.w.ArrayLen(0)
	case is(sub, "count") && len(args) == 2:
		// commandTable, not commandList: the list refers to this function.
		c.w.Int(int64(len(commandTable)))
	case is(sub, "list") && len(args) == 2:
		c.w.ArrayLen(len(commandTable))
		for _, name := range slices.Sorted(maps.Keys(commandTable)) {
			c.w.BulkString(name)
		}
	default:
		c.unknownSubcommand("command", sub)
	}
}

// configParams are the CONFIG GET answers: what redis-benchmark asks (save, appendonly) and a
// few clients look at. kvdb has no Redis-style configuration to set.
func (s *Server) configParams() [][2]string {
	timeout := int64(0)
	if s.opts.IdleTimeout > 0 {
		timeout = int64(s.opts.IdleTimeout / time.Second)
	}
	return [][2]string{
		{"appendonly", "no"},
		{"databases", "1"},
		{"maxclients", strconv.Itoa(s.opts.MaxConns)},
		{"maxmemory", "0"},
		{"proto-max-bulk-len", strconv.Itoa(s.limits.MaxBulk)},
		{"save", ""},
		{"timeout", strconv.FormatInt(timeout, 10)},
	}
}

func cmdConfig(c *conn, args [][]byte) {
	switch sub := args[1]; {
	case is(sub, "get"):
		if len(args) < 3 {
			c.arityError("config|get")
			return
		}
		var out []string
		for _, p := range c.srv.configParams() {
			for _, pattern := range args[2:] {
				if globMatch(bytes.ToLower(pattern), []byte(p[0])) {
					out = append(out, p[0], p[1])
					break
				}
			}
		}
		c.w.ArrayLen(len(out))
		for _, s := range out {
			c.w.BulkString(s)
		}
	case is(sub, "set"):
		if len(args) < 4 || len(args)%2 != 0 {
			c.arityError("config|set")
			return
		}
		c.errorf("ERR Unknown option or number of arguments for CONFIG SET - '%s'", args[2])
	case is(sub, "resetstat"):
		c.w.OK()
	default:
		c.unknownSubcommand("config", sub)
	}
}

// validName is Redis's rule for client names and library names: printable ASCII, no spaces.
func validName(b []byte) bool {
	for _, ch := range b {
		if ch < '!' || ch > '~' {
			return false
		}
	}
	return true
}

func cmdClient(c *conn, args [][]byte) {
	switch sub := args[1]; {
	case is(sub, "id") && len(args) == 2:
		c.w.Int(c.id)
	case is(sub, "getname") && len(args) == 2:
		if c.name == "" {
			c.w.Null()
		} else {
			c.w.BulkString(c.name)
		}
	case is(sub, "setname"):
		if len(args) != 3 {
			c.arityError("client|setname")
			return
		}
		if !validName(args[2]) {
			c.errorReply("ERR Client names cannot contain spaces, newlines or special characters.")
			return
		}
		c.name = string(args[2])
		c.w.OK()
	case is(sub, "setinfo"):
		if len(args) != 4 {
			c.arityError("client|setinfo")
			return
		}
		attr := args[2]
		if !is(attr, "lib-name") && !is(attr, "lib-ver") {
			c.errorf("ERR Unrecognized option '%s'", attr)
			return
		}
		if !validName(args[3]) {
			c.errorf("ERR %s cannot contain spaces, newlines or special characters.", bytes.ToLower(attr))
			return
		}
		c.w.OK()
	default:
		c.unknownSubcommand("client", sub)
	}
}

// cmdHello: HELLO [protover [AUTH user pass] [SETNAME name]]. kvdb speaks RESP2 only, so
// HELLO 3 gets Redis's NOPROTO error, on which clients (go-redis, redis-py) fall back to RESP2.
func cmdHello(c *conn, args [][]byte) {
	if len(args) >= 2 {
		ver, ok := parseInt(args[1])
		if !ok {
			c.errorReply("ERR Protocol version is not an integer or out of range")
			return
		}
		if ver != 2 {
			c.errorReply("NOPROTO unsupported protocol version")
			return
		}
	}
	name := c.name
	var user, pass []byte
	for i := 2; i < len(args); i++ {
		more := len(args) - 1 - i
		switch {
		case is(args[i], "auth") && more >= 2:
			user, pass = args[i+1], args[i+2]
			i += 2
		case is(args[i], "setname") && more >= 1:
			i++
			if !validName(args[i]) {
				c.errorReply("ERR Client names cannot contain spaces, newlines or special characters.")
				return
			}
			name = string(args[i])
		default:
			c.errorf("ERR Syntax error in HELLO option '%s'", args[i])
			return
		}
	}
	if user != nil && !c.authenticate(user, pass) {
		return
	}
	if !c.authed {
		c.errorReply("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time")
		return
	}
	c.name = name
	c.w.ArrayLen(14)
	c.w.BulkString("server")
	c.w.BulkString("kvdb")
	c.w.BulkString("version")
	c.w.BulkString(redisVersion)
	c.w.BulkString("proto")
	c.w.Int(2)
	c.w.BulkString("id")
	c.w.Int(c.id)
	c.w.BulkString("mode")
	c.w.BulkString("standalone")
	c.w.BulkString("role")
	c.w.BulkString("master")
	c.w.BulkString("modules")
	c.w.ArrayLen(0)
}

// redisVersion is the Redis version whose commands and replies this server follows. Clients
// read it to decide which commands they may send, so it is not kvdb's own version.
const redisVersion = "7.0.0"

func cmdSelect(c *conn, args [][]byte) {
	db, ok := parseInt(args[1])
	switch {
	case !ok:
		c.errorReply(errNotInteger)
	case db != 0:
		c.errorReply("ERR DB index is out of range")
	default:
		c.w.OK()
	}
}

// cmdInfo: INFO [section ...] with the server, clients, stats and keyspace sections.
func cmdInfo(c *conn, args [][]byte) {
	s := c.srv
	want := func(section string) bool {
		if len(args) == 1 {
			return true
		}
		for _, a := range args[1:] {
			if is(a, section) || is(a, "all") || is(a, "default") || is(a, "everything") {
				return true
			}
		}
		return false
	}
	var b strings.Builder
	section := func(name string, lines ...string) {
		if !want(strings.ToLower(name)) {
			return
		}
		if b.Len() > 0 {
			b.WriteString("\r\n")
		}
		b.WriteString("# " + name + "\r\n")
		for _, l := range lines {
			b.WriteString(l + "\r\n")
		}
	}
	section("Server",
		"redis_version:"+redisVersion,
		"kvdb_version:"+s.opts.Version,
		"redis_mode:standalone",
		"os:"+runtime.GOOS+" "+runtime.GOARCH,
		"go_version:"+runtime.Version(),
		"process_id:"+strconv.Itoa(os.Getpid()),
		"tcp_port:"+port(c),
		"uptime_in_seconds:"+strconv.FormatInt(int64(time.Since(s.started)/time.Second), 10))
	section("Clients",
		"connected_clients:"+strconv.Itoa(s.numConns()),
		"maxclients:"+strconv.Itoa(s.opts.MaxConns))
	section("Stats",
		"total_connections_received:"+strconv.FormatInt(s.accepted.Load(), 10),
		"total_commands_processed:"+strconv.FormatInt(s.processed.Load(), 10))
	var keyspace []string
	if sz, ok := s.store.(Sizer); ok {
		if n, err := sz.Len(); err == nil && n > 0 {
			keyspace = append(keyspace, fmt.Sprintf("db0:keys=%d,expires=0,avg_ttl=0", n))
		}
	}
	section("Keyspace", keyspace...)
	c.w.BulkString(b.String())
}

func port(c *conn) string {
	_, p, _ := net.SplitHostPort(c.nc.LocalAddr().String())
	return p
}

// cmdAuth: AUTH password, or AUTH username password with the only user, "default" (Redis 6+).
func cmdAuth(c *conn, args [][]byte) {
	switch {
	case len(args) > 3:
		c.errorReply(errSyntax)
	case len(args) == 2 && c.srv.opts.Password == "":
		c.errorReply("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")
	case len(args) == 2:
		if c.authenticate([]byte("default"), args[1]) {
			c.w.OK()
		}
	default:
		if c.authenticate(args[1], args[2]) {
			c.w.OK()
		}
	}
}

// authenticate checks a user name and password, marks the connection authenticated, or
// replies with Redis's WRONGPASS error. With no password set, the default user takes any
// password (Redis's "nopass"). Both sides are hashed first so that the comparison takes the
// same time whatever the password's length and contents.
func (c *conn) authenticate(user, pass []byte) bool {
	ok := string(user) == "default"
	if want := c.srv.opts.Password; want != "" {
		got := sha256.Sum256(pass)
		ok = subtle.ConstantTimeCompare(got[:], c.srv.passwordHash[:]) == 1 && ok
	}
	if !ok {
		c.srv.log.Warn("resp authentication failed", "conn", c.id, "remote", c.nc.RemoteAddr().String())
		c.errorReply("WRONGPASS invalid username-password pair or user is disabled.")
		return false
	}
	c.authed = true
	return true
}

// cmdCrossProtocol closes the connection without a reply, since the client is not speaking RESP.
func cmdCrossProtocol(c *conn, _ [][]byte) {
	c.srv.log.Warn("resp possible SECURITY ATTACK detected: an HTTP request (POST or Host:) was sent to the RESP port, likely cross-protocol scripting from a web page; connection aborted",
		"conn", c.id, "remote", c.nc.RemoteAddr().String())
	c.failed = true
	c.abort = true
}

func cmdQuit(c *conn, _ [][]byte) {
	c.w.OK()
	c.quit = true
}
