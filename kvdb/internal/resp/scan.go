package resp

import (
	"container/list"
	"hash/maphash"
	"sync"
)

// cursorTable maps SCAN cursor numbers to the key a scan stopped after.
//
// Redis cursors are positions in a hash table, which an ordered store does not have; its natural
// cursor is "the last key returned". Clients insist on numbers, though (redis-cli parses the
// cursor with strtoull, go-redis with ParseUint), so the server hands out a number and keeps the
// key here. The number is a keyed hash of the key: the same position always gets the same
// cursor, so a client that retries a SCAN reuses one entry. The table is bounded by entries and
// bytes, evicting the least recently used; a scan whose cursor was evicted gets an error, not
// a silent restart.
type cursorTable struct {
	seed     maphash.Seed
	maxN     int
	maxBytes int

	mu    sync.Mutex
	bytes int
	byID  map[uint64]*list.Element // of *cursorEntry
	lru   list.List                // front: most recently used
}

type cursorEntry struct {
	id  uint64
	key []byte
}

func newCursorTable(maxN, maxBytes int) *cursorTable {
	return &cursorTable{seed: maphash.MakeSeed(), maxN: maxN, maxBytes: maxBytes, byID: make(map[uint64]*list.Element)}
}

// put records key and returns its cursor: non-zero (0 means "done") and below 2^63, so that
// clients parsing it as a signed number are fine too.
func (t *cursorTable) put(key []byte) uint64 {
	id := maphash.Bytes(t.seed, key) & (1<<63 - 1)
	if id == 0 {
		id = 1
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if el, ok := t.byID[id]; ok {
		e := el.Value.(*cursorEntry)
		t.bytes += len(key) - len(e.key)
		e.key = append(e.key[:0], key...)
		t.lru.MoveToFront(el)
	} else {
		t.byID[id] = t.lru.PushFront(&cursorEntry{id: id, key: append([]byte(nil), key...)})
		t.bytes += len(key)
	}
	for t.lru.Len() > 1 && (t.lru.Len() > t.maxN || t.bytes > t.maxBytes) {
		el := t.lru.Back()
		e := el.Value.(*cursorEntry)
		t.lru.Remove(el)
		delete(t.byID, e.id)
		t.bytes -= len(e.key)
	}
	return id
}

// get returns a copy of the key behind cursor id.
func (t *cursorTable) get(id uint64) ([]byte, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	el, ok := t.byID[id]
	if !ok {
		return nil, false
	}
	t.lru.MoveToFront(el)
	return append([]byte(nil), el.Value.(*cursorEntry).key...), true
}

// globPrefix returns the literal start of a glob pattern: the bytes before the first special
// character. Every key the pattern matches starts with it, so the Store can seek there.
func globPrefix(pattern []byte) []byte {
	for i, c := range pattern {
		switch c {
		case '*', '?', '[', '\\':
			return pattern[:i]
		}
	}
	return pattern
}

// globMatch reports whether s matches the Redis glob pattern: * (any run), ? (one byte),
// [abc] [^abc] [a-z] (classes; reversed ranges allowed), \x (literal x).
// It follows Redis's stringmatchlen (util.c) but backtracks only to the last '*', the classic
// linear-space algorithm, so patterns like "a*a*a*a*b" cannot blow up: O(len(p)·len(s)).
func globMatch(p, s []byte) bool {
	if len(s) == 0 {
		// Redis's quirk, kept for fidelity: its loop never starts on an empty string, so only
		// the empty pattern matches it ("*" does not; SCAN and KEYS special-case a lone "*").
		return len(p) == 0
	}
	px, sx := 0, 0
	starPx, starSx := -1, -1
	for px < len(p) || sx < len(s) {
		if px < len(p) {
			switch c := p[px]; c {
			case '*':
				for px < len(p) && p[px] == '*' {
					px++
				}
				if px == len(p) {
					return true
				}
				starPx, starSx = px, sx
				continue
			case '?':
				if sx < len(s) {
					px++
					sx++
					continue
				}
			case '[':
				if sx < len(s) {
					if ok, width := matchClass(p[px:], s[sx]); ok {
						px += width
						sx++
						continue
					}
				}
			case '\\':
				lit, width := c, 1
				if px+1 < len(p) {
					lit, width = p[px+1], 2
				}
				if sx < len(s) && s[sx] == lit {
					px += width
					sx++
					continue
				}
			default:
				if sx < len(s) && s[sx] == c {
					px++
					sx++
					continue
				}
			}
		}
		// Mismatch: let the last '*' swallow one more byte and retry from there.
		if starPx >= 0 && starSx < len(s) {
			starSx++
			px, sx = starPx, starSx
			continue
		}
		return false
	}
	return true
}

// matchClass matches c against the class at the start of p ("[...]") and returns whether it
// matched and the class's length in p. An unterminated class runs to the end of the pattern,
// as in Redis.
func matchClass(p []byte, c byte) (bool, int) {
	i := 1
	negate := i < len(p) && p[i] == '^'
	if negate {
		i++
	}
	match := false
	for i < len(p) {
		switch {
		case p[i] == '\\' && i+1 < len(p):
			i++
			if p[i] == c {
				match = true
			}
		case p[i] == ']':
			return match != negate, i + 1
		case i+2 < len(p) && p[i+1] == '-':
			lo, hi := p[i], p[i+2]
			if lo > hi {
				lo, hi = hi, lo
			}
			if lo <= c && c <= hi {
				match = true
			}
			i += 2
		default:
			if p[i] == c {
				match = true
			}
		}
		i++
	}
	return match != negate, len(p)
}
