package rules

import (
	"strings"
)

// Match finds the rule for one request descriptor of domain and returns it with its limiter key
// (the limit.Request.Key to decide it under). ok is false when no rule applies: unknown domain,
// no matching path, or a path that ends on a node without a rate_limit.
//
// The walk is envoy ratelimit's, level by level and without backtracking: the node for
// "key_value" first, then the first wildcard of that level (in file order) whose prefix the
// "key_value" string has, then the key-only node. A node with nested descriptors is descended
// into; the rule is that of the node the last entry lands on.
//
// # The limiter key
//
//	<domain>|<key>=<value>|<key>=<value>...#<version>
//
// for example "messaging|message_type=marketing|to_number=2061111111#5f0e1d2c".
//
//   - It holds the request's actual values, including those matched by a key-only node or a
//     wildcard: that is what gives each distinct value its own limit (envoy's cache key does
//     the same). With share_threshold, a wildcard-matched value is replaced by the pattern
//     ("files/*"), so all such values share one counter, as in envoy.
//   - Domain, keys and values are percent-escaped ('%', '|', '=', '#', '{', '}', spaces and
//     control bytes), so the encoding is injective: two different descriptors never share a
//     key, unlike envoy's "_"-joined one. Escaping braces keeps values out of Redis Cluster
//     hash tags, so a store can add its own.
//   - It ends with the rule's Version, a fingerprint of its limit (algorithm, requests,
//     period, burst). A reload that leaves a limit alone keeps the key, so counters survive
//     unrelated edits; one that changes it gets fresh keys, because a store's state only makes
//     sense under the parameters that wrote it (a GCRA arrival time computed at 10/s, a bucket
//     filled to the old burst, a window aligned to the old period, or another algorithm's data
//     altogether). The cost: each key affected by a change starts from a full allowance once;
//     the old state expires on its own.
//   - It does not name the rule: one Set maps a descriptor to at most one rule, and if a reload
//     moves the descriptor to another rule with the same limit, keeping its counter is right.
func (s *Set) Match(domain string, entries []Entry) (*Rule, string, bool) {
	if s == nil || len(entries) == 0 {
		return nil, "", false
	}
	d := s.domains[domain]
	if d == nil {
		return nil, "", false
	}
	var (
		rule  *Rule
		share []string // per entry: the pattern standing for the value in the key, if shared
		n     = d.root
	)
	for i, e := range entries {
		index := e.Key + "_" + e.Value
		next := n.children[index]
		wildcard := ""
		if next == nil {
			for _, w := range n.wildcards {
				if strings.HasPrefix(index, strings.TrimSuffix(w, "*")) {
					next, wildcard = n.children[w], w
					break
				}
			}
		}
		if next == nil {
			next = n.children[e.Key]
		}
		if next != nil && wildcard != "" && next.sharePattern != "" {
			if share == nil {
				share = make([]string, len(entries))
			}
			share[i] = strings.TrimPrefix(next.sharePattern, e.Key+"_")
		}
		if next != nil && next.rule != nil && i == len(entries)-1 {
			rule = next.rule
		}
		if next == nil || len(next.children) == 0 {
			break
		}
		n = next
	}
	if rule == nil {
		return nil, "", false
	}
	return rule, limiterKey(domain, entries, share, rule.version), true
}

func limiterKey(domain string, entries []Entry, share []string, version string) string {
	var b strings.Builder
	b.Grow(len(domain) + 16*len(entries) + 10)
	escape(&b, domain)
	for i, e := range entries {
		b.WriteByte('|')
		escape(&b, e.Key)
		b.WriteByte('=')
		if share != nil && share[i] != "" {
			escape(&b, share[i])
		} else {
			escape(&b, e.Value)
		}
	}
	b.WriteByte('#')
	b.WriteString(version)
	return b.String()
}

func escape(b *strings.Builder, s string) {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c <= ' ' || c == 0x7f || c == '%' || c == '|' || c == '=' || c == '#' || c == '{' || c == '}':
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		default:
			b.WriteByte(c)
		}
	}
}

// Result is the outcome for one descriptor of a request.
type Result struct {
	Rule *Rule  // the rule to enforce; nil when none applies
	Key  string // the limiter key; "" when Rule is nil
	// Replaced is the rule this descriptor matched but that another matched rule replaces;
	// it is not enforced (Rule is nil). For logs and metrics.
	Replaced *Rule
}

// MatchAll matches every descriptor of one request (envoy sends several) and applies replaces.
// The results are aligned with descriptors.
func (s *Set) MatchAll(domain string, descriptors [][]Entry) []Result {
	out := make([]Result, len(descriptors))
	matched := make([]*Rule, len(descriptors))
	for i, d := range descriptors {
		out[i].Rule, out[i].Key, _ = s.Match(domain, d)
		matched[i] = out[i].Rule
	}
	kept := ApplyReplaces(matched)
	for i := range out {
		if out[i].Rule != nil && kept[i] == nil {
			out[i] = Result{Replaced: out[i].Rule}
		}
	}
	return out
}

// ApplyReplaces takes the rules matched by the descriptors of one request (nil where none
// matched) and returns them with nil in place of each rule whose name another matched rule
// lists in its replaces, as envoy ratelimit does: replaces lists are gathered from every
// matched rule, unlimited ones included, then named rules in those lists are dropped. The
// result is aligned with matched, which is not modified.
func ApplyReplaces(matched []*Rule) []*Rule {
	out := append([]*Rule(nil), matched...)
	var replaced map[string]bool
	for _, r := range matched {
		if r == nil {
			continue
		}
		for _, name := range r.Replaces {
			if replaced == nil {
				replaced = map[string]bool{}
			}
			replaced[name] = true
		}
	}
	if replaced == nil {
		return out
	}
	for i, r := range out {
		if r != nil && r.Name != "" && replaced[r.Name] {
			out[i] = nil
		}
	}
	return out
}
