// Package snowflake issues 64-bit, roughly time-ordered, unique IDs without coordination between
// nodes: the scheme Twitter introduced in 2010 for tweet IDs
// (https://blog.twitter.com/engineering/en_us/a/2010/announcing-snowflake) and Discord uses for
// every object (https://discord.com/developers/docs/reference#snowflakes).
//
// Layout, from the most significant bit:
//
//	0 | 41 bits: milliseconds since Epoch | 10 bits: node | 12 bits: sequence
//
// The sign bit stays 0, so an ID is a positive int64 that fits a PostgreSQL bigint and sorts by
// time. 41 bits of milliseconds last 2^41 ms ≈ 69.7 years from the epoch (2026-01-01, so until
// 2095); 10 bits name up to 1024 generators (processes) that never talk to each other; 12 bits let
// one generator issue 4096 IDs per millisecond. Two generators with different nodes can never
// collide; one generator never repeats because (millisecond, sequence) only moves forward.
//
// IDs are unique and ordered per generator, and only roughly ordered across generators (by their
// clocks' skew): chat ordering within a conversation comes from the per-conversation sequence
// number, not from these IDs (see docs/adr/0001-message-ids.md).
package snowflake

import (
	"fmt"
	"strconv"
	"sync"
	"time"
)

// Bit widths and derived limits of the layout.
const (
	TimeBits = 41
	NodeBits = 10
	SeqBits  = 12

	MaxNode = 1<<NodeBits - 1 // 1023
	MaxSeq  = 1<<SeqBits - 1  // 4095
	maxMs   = 1<<TimeBits - 1

	nodeShift = SeqBits
	timeShift = SeqBits + NodeBits
)

// Epoch is the zero of the ID clock: 2026-01-01T00:00:00Z.
var Epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// ID is one snowflake.
type ID int64

// Time is the millisecond the ID was issued in (by its generator's clock).
func (id ID) Time() time.Time {
	return Epoch.Add(time.Duration(int64(id)>>timeShift) * time.Millisecond)
}

// Node is the generator that issued the ID.
func (id ID) Node() int { return int(int64(id) >> nodeShift & MaxNode) }

// Seq is the ID's sequence number within its millisecond and node.
func (id ID) Seq() int { return int(int64(id) & MaxSeq) }

// String is the decimal form, the form that survives JSON (JavaScript numbers lose precision
// above 2^53, so APIs send IDs as strings).
func (id ID) String() string { return strconv.FormatInt(int64(id), 10) }

// Make assembles an ID from its parts; ms is milliseconds since Epoch.
func Make(ms int64, node, seq int) ID {
	return ID(ms<<timeShift | int64(node)<<nodeShift | int64(seq))
}

// Generator issues the IDs of one node. It is safe for concurrent use.
type Generator struct {
	node int
	now  func() time.Time

	mu     sync.Mutex
	lastMs int64 // the millisecond of the last ID issued
	seq    int   // the sequence number of the last ID issued in lastMs
	issued bool
}

// New returns the generator of node (0..MaxNode) reading the clock now (time.Now when nil).
func New(node int, now func() time.Time) (*Generator, error) {
	if node < 0 || node > MaxNode {
		return nil, fmt.Errorf("snowflake: node %d out of range 0..%d", node, MaxNode)
	}
	if now == nil {
		now = time.Now
	}
	return &Generator{node: node, now: now}, nil
}

// Node is the generator's node number.
func (g *Generator) Node() int { return g.node }

// Next returns a new ID, greater than every ID this generator issued before.
//
// When the 4096 sequence numbers of the current millisecond are used up, Next waits until the
// clock reaches the next millisecond.
//
// When the clock steps back (NTP correction, VM migration), Next does not follow it: it keeps
// issuing from the last millisecond seen, so it never returns a duplicate or a smaller ID. If
// that borrowed millisecond runs out of sequence numbers while the clock is still behind, Next
// moves on to the following millisecond without waiting — waiting for the clock would stall the
// generator for the whole size of the step — so IDs may run a little ahead of the wall clock until
// it catches up.
func (g *Generator) Next() ID {
	g.mu.Lock()
	defer g.mu.Unlock()
	ms := g.millis()
	switch {
	case !g.issued || ms > g.lastMs:
		g.lastMs, g.seq, g.issued = ms, 0, true
	case g.seq < MaxSeq: // same millisecond, or the clock went back: stay on lastMs
		g.seq++
	case ms < g.lastMs: // exhausted while the clock is behind: borrow the next millisecond
		g.lastMs, g.seq = g.lastMs+1, 0
	default: // exhausted in the current millisecond: wait for the next one
		for ms <= g.lastMs {
			time.Sleep(50 * time.Microsecond)
			ms = g.millis()
		}
		g.lastMs, g.seq = ms, 0
	}
	if g.lastMs > maxMs {
		// 2095: the layout has run out of time bits; wrapping would reuse IDs.
		panic("snowflake: time bits exhausted (more than 2^41 ms since the epoch)")
	}
	return Make(g.lastMs, g.node, g.seq)
}

// millis is the clock in milliseconds since Epoch; a clock before the epoch reads as 0.
func (g *Generator) millis() int64 {
	return max(g.now().Sub(Epoch).Milliseconds(), 0)
}
