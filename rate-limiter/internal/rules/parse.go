package rules

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/limit"
)

// Parsing works on yaml.v3's Node tree rather than on structs so that every error can name the
// line it is on, and so that all of a file's errors are collected in one pass.

const (
	maxDepth       = 32     // descriptor nesting; envoy descriptors are a handful of levels deep
	maxDescriptors = 100000 // per file; also bounds alias expansion ("billion laughs")
	maxErrors      = 100    // per file; past this the rest are summarised
)

// The fields each mapping accepts. Envoy checks keys against one flat list, so it silently
// ignores a known key in the wrong place (shadow_mode inside rate_limit); here that is an error.
var (
	rootFields       = []string{"domain", "descriptors"}
	descriptorFields = []string{"key", "value", "rate_limit", "descriptors", "shadow_mode", "detailed_metric", "value_to_metric", "share_threshold"}
	rateLimitFields  = []string{"unit", "requests_per_unit", "unlimited", "name", "replaces", "algorithm", "burst", "failure_mode"}
	replacesFields   = []string{"name"}
)

// burstAlgorithms are those that read Limit.Burst.
var burstAlgorithms = []limit.Algorithm{limit.TokenBucket, limit.LeakyBucket, limit.LeakyQueue, limit.GCRA}

// node is one level of a domain's descriptor tree, indexed the way envoy indexes it so that
// matching is identical, quirks included: children by "key" or "key_value", and the wildcard
// children (whose index ends in "*") listed in file order.
type node struct {
	children  map[string]*node
	wildcards []string
	rule      *Rule
	// sharePattern is the wildcard index ("key_value*") of a share_threshold node: every value
	// it matches shares one counter.
	sharePattern string
	entry        Entry // the configured key and value, for messages
	line         int
}

func newNode(e Entry, line int) *node {
	return &node{children: map[string]*node{}, entry: e, line: line}
}

// domainTree is one file's domain.
type domainTree struct {
	name  string
	file  string
	line  int
	root  *node
	rules []*Rule
}

type parser struct {
	file     string
	errs     Errors
	dropped  int
	count    int
	tree     *domainTree
	names    map[string]int // rule name → line
	replaces []replaceRef
}

type replaceRef struct {
	name  string
	field string
	line  int
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseFile parses and validates one file. The tree is nil when there are errors.
func parseFile(file string, data []byte) (*domainTree, Errors) {
	p := &parser{file: file, names: map[string]int{}}
	p.tree = &domainTree{file: file, line: 1, root: newNode(Entry{}, 0)}

	doc, extra, err := decode(data)
	if err != nil {
		p.syntax(data, err)
		return nil, p.errs
	}
	if extra != nil {
		// Envoy reads only the first document and would silently ignore this one.
		p.errf(extra, "", "a second YAML document: put one domain per file")
	}

	p.root(doc)
	p.checkReplaces()
	slices.SortStableFunc(p.errs, func(a, b *FieldError) int { return cmp.Compare(a.Line, b.Line) })
	if p.dropped > 0 {
		p.errs = append(p.errs, &FieldError{File: file, Msg: fmt.Sprintf("and %d more errors", p.dropped)})
	}
	if len(p.errs) > 0 {
		return nil, p.errs
	}
	return p.tree, nil
}

// decode returns the first document's content and, if there is one, a second non-empty
// document (which envoy would silently ignore).
func decode(data []byte) (doc, extra *yaml.Node, err error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var first, second yaml.Node
	if err := dec.Decode(&first); err != nil && !errors.Is(err, io.EOF) {
		return nil, nil, err
	}
	if err := dec.Decode(&second); err != nil && !errors.Is(err, io.EOF) {
		return nil, nil, err
	}
	if c := docContent(&second); !isNull(c) {
		extra = c
	}
	return docContent(&first), extra, nil
}

func docContent(doc *yaml.Node) *yaml.Node {
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		return doc.Content[0]
	}
	return nil
}

// syntax reports a YAML syntax error. yaml.v3 gives the line where the enclosing construct
// starts (or none on the first line), not the offending one; so the file is cut after each
// following line until the cut produces the same error, which finds the line that breaks it.
func (p *parser) syntax(data []byte, err error) {
	msg, line := err.Error(), 0
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = "yaml: " + m[2]
	}
	if exact := offendingLine(data, max(line, 1), msg); exact > 0 {
		line = exact
	}
	p.errs = append(p.errs, &FieldError{File: p.file, Line: line, Msg: msg})
}

func offendingLine(data []byte, from int, msg string) int {
	const maxTries = 2000 // quadratic in the worst case: bounded for huge files
	lines := bytes.SplitAfter(data, []byte("\n"))
	for n := from; n <= len(lines) && n < from+maxTries; n++ {
		_, _, err := decode(bytes.Join(lines[:n], nil))
		if err == nil {
			continue
		}
		got := err.Error()
		if m := yamlLine.FindStringSubmatch(got); m != nil {
			got = "yaml: " + m[2]
		}
		if got == msg {
			return n
		}
	}
	return 0
}

func (p *parser) errf(n *yaml.Node, field, format string, args ...any) {
	if len(p.errs) >= maxErrors {
		p.dropped++
		return
	}
	line := 0
	if n != nil {
		line = n.Line
	}
	p.errs = append(p.errs, &FieldError{File: p.file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// field is one key: value of a mapping.
type field struct {
	name string
	key  *yaml.Node
	val  *yaml.Node
}

// mapping returns n's fields in order, resolving aliases and "<<" merge keys (which envoy's
// yaml.v2 honours), reporting duplicate and unknown keys. ok is false when n is not a mapping.
func (p *parser) mapping(n *yaml.Node, path, what string, allowed []string) ([]field, bool) {
	n = deref(n)
	if n == nil || isNull(n) {
		return nil, true
	}
	if n.Kind != yaml.MappingNode {
		p.errf(n, path, "want %s, got %s", what, kindName(n))
		return nil, false
	}
	var fields, merged []field
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if isMerge(k) {
			merged = append(merged, p.mergeFields(v, path, what)...)
			continue
		}
		name := k.Value
		if k.Kind != yaml.ScalarNode {
			p.errf(k, path, "a key must be a plain name, got %s", kindName(k))
			continue
		}
		if first, dup := seen[name]; dup {
			p.errf(k, join(path, name), "duplicate field (first at line %d)", first)
			continue
		}
		seen[name] = k.Line
		if !slices.Contains(allowed, name) {
			p.errf(k, join(path, name), "unknown field (want %s)%s", strings.Join(allowed, ", "), misplaced(name))
			continue
		}
		fields = append(fields, field{name: name, key: k, val: v})
	}
	for _, f := range merged {
		if _, dup := seen[f.name]; dup {
			continue // explicit keys override merged ones
		}
		seen[f.name] = f.key.Line
		if !slices.Contains(allowed, f.name) {
			p.errf(f.key, join(path, f.name), "unknown field (want %s)%s", strings.Join(allowed, ", "), misplaced(f.name))
			continue
		}
		fields = append(fields, f)
	}
	return fields, true
}

func (p *parser) mergeFields(v *yaml.Node, path, what string) []field {
	v = deref(v)
	var srcs []*yaml.Node
	switch v.Kind {
	case yaml.MappingNode:
		srcs = []*yaml.Node{v}
	case yaml.SequenceNode:
		srcs = v.Content
	default:
		p.errf(v, path, "a merge (<<) needs a mapping or a list of mappings, got %s", kindName(v))
		return nil
	}
	var out []field
	seen := map[string]bool{}
	for _, s := range srcs {
		s = deref(s)
		if s.Kind != yaml.MappingNode {
			p.errf(s, path, "a merge (<<) needs a mapping or a list of mappings, got %s", kindName(s))
			continue
		}
		for i := 0; i+1 < len(s.Content); i += 2 {
			k := s.Content[i]
			if k.Kind != yaml.ScalarNode || isMerge(k) || seen[k.Value] {
				continue // nested merges and earlier sources win, as in YAML's merge spec
			}
			seen[k.Value] = true
			out = append(out, field{name: k.Value, key: k, val: s.Content[i+1]})
		}
	}
	return out
}

func misplaced(name string) string {
	switch {
	case slices.Contains(descriptorFields, name):
		return "; " + name + " belongs in a descriptor, next to key"
	case slices.Contains(rateLimitFields, name):
		return "; " + name + " belongs in rate_limit"
	case slices.Contains(rootFields, name):
		return "; " + name + " belongs at the top of the file"
	}
	return ""
}

func (p *parser) root(n *yaml.Node) {
	fields, ok := p.mapping(n, "", "a mapping with domain and descriptors", rootFields)
	if !ok {
		return
	}
	var descs *yaml.Node
	haveDomain := false
	for _, f := range fields {
		switch f.name {
		case "domain":
			haveDomain = true
			p.tree.line = f.key.Line
			if s, ok := p.str(f.val, "domain"); ok {
				if s == "" {
					p.errf(f.val, "domain", "must not be empty")
				}
				p.tree.name = s
			}
		case "descriptors":
			descs = f.val
		}
	}
	if !haveDomain {
		line := 1
		if n != nil {
			line = max(n.Line, 1)
		}
		p.errs = append(p.errs, &FieldError{File: p.file, Line: line, Field: "domain", Msg: "missing (every file names its domain)"})
	}
	p.descriptors(descs, "descriptors", p.tree.root, nil, 1)
}

func (p *parser) descriptors(n *yaml.Node, path string, parent *node, pattern []Entry, depth int) {
	n = deref(n)
	if n == nil || isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		p.errf(n, path, "want a list of descriptors, got %s", kindName(n))
		return
	}
	if depth > maxDepth {
		p.errf(n, path, "descriptors nested deeper than %d levels", maxDepth)
		return
	}
	for i, item := range n.Content {
		p.count++
		if p.count > maxDescriptors {
			p.errf(item, path, "more than %d descriptors in one file", maxDescriptors)
			return
		}
		p.descriptor(item, fmt.Sprintf("%s[%d]", path, i), parent, pattern, depth)
	}
}

func (p *parser) descriptor(n *yaml.Node, path string, parent *node, pattern []Entry, depth int) {
	n = deref(n)
	fields, ok := p.mapping(n, path, "a descriptor (a mapping with key)", descriptorFields)
	if !ok {
		return
	}
	var (
		e                          Entry
		haveKey                    bool
		rl, children               *yaml.Node
		shadow, detailed, toMetric bool
		share                      bool
		shareNode                  *yaml.Node
	)
	for _, f := range fields {
		fp := join(path, f.name)
		switch f.name {
		case "key":
			haveKey = true
			if s, ok := p.str(f.val, fp); ok {
				if s == "" {
					p.errf(f.val, fp, "must not be empty")
				}
				e.Key = s
			}
		case "value":
			e.Value, _ = p.str(f.val, fp) // "" = absent, as in envoy
		case "rate_limit":
			rl = f.val
		case "descriptors":
			children = f.val
		case "shadow_mode":
			shadow, _ = p.boolean(f.val, fp)
		case "detailed_metric":
			detailed, _ = p.boolean(f.val, fp)
		case "value_to_metric":
			toMetric, _ = p.boolean(f.val, fp)
		case "share_threshold":
			share, _ = p.boolean(f.val, fp)
			shareNode = f.val
		}
	}
	if !haveKey {
		p.errf(n, join(path, "key"), "missing (every descriptor has a key)")
	}

	// The index is envoy's: key, or key_value.
	index := e.Key
	if e.Value != "" {
		index += "_" + e.Value
	}
	me := newNode(e, n.Line)
	pattern = append(slices.Clip(pattern), e)
	if share {
		if strings.HasSuffix(index, "*") {
			me.sharePattern = index
		} else {
			p.errf(shareNode, join(path, "share_threshold"), "only allowed on a wildcard value (one ending in \"*\")")
		}
	}
	if rl != nil && !isNull(deref(rl)) {
		r := &Rule{
			Domain:         p.tree.name,
			Path:           displayPath(pattern),
			Descriptor:     pattern,
			ShadowMode:     shadow,
			DetailedMetric: detailed,
			ValueToMetric:  toMetric,
			File:           p.file,
			Line:           n.Line,
		}
		if p.rateLimit(rl, join(path, "rate_limit"), r) {
			me.rule = r
			p.tree.rules = append(p.tree.rules, r)
		}
	}

	if e.Key != "" {
		if prev, dup := parent.children[index]; dup {
			if prev.entry == e {
				p.errf(n, path, "duplicate descriptor %s (first at line %d)", describe(e), prev.line)
			} else {
				p.errf(n, path, "descriptor %s collides with %s at line %d: envoy joins key and value with \"_\", so both would match the same requests",
					describe(e), describe(prev.entry), prev.line)
			}
		} else {
			parent.children[index] = me
			if strings.HasSuffix(index, "*") {
				parent.wildcards = append(parent.wildcards, index)
			}
		}
	}
	// Nested descriptors are checked even under a broken parent, so one pass finds every error.
	p.descriptors(children, join(path, "descriptors"), me, pattern, depth+1)
}

func describe(e Entry) string {
	if e.Value == "" {
		return fmt.Sprintf("(key %q, any value)", e.Key)
	}
	return fmt.Sprintf("(key %q, value %q)", e.Key, e.Value)
}

// rateLimit fills r from a rate_limit mapping and reports whether it is valid.
func (p *parser) rateLimit(n *yaml.Node, path string, r *Rule) bool {
	before := len(p.errs) + p.dropped
	fields, ok := p.mapping(n, path, "a rate_limit mapping", rateLimitFields)
	if !ok {
		return false
	}
	byName := map[string]field{}
	for _, f := range fields {
		byName[f.name] = f
	}
	n = deref(n)
	get := func(name string) (field, bool) {
		f, ok := byName[name]
		if ok && isNull(deref(f.val)) {
			return f, false
		}
		return f, ok
	}

	if f, ok := get("unlimited"); ok {
		r.Unlimited, _ = p.boolean(f.val, join(path, "unlimited"))
	}
	// With unlimited, the limit's parameters mean nothing; envoy rejects a unit there, and so
	// we do for this project's extensions. requests_per_unit is ignored, as envoy ignores it.
	notWhenUnlimited := func(f field) {
		p.errf(f.key, join(path, f.name), "must not be set when unlimited is true")
	}

	var period time.Duration
	if f, ok := get("unit"); ok {
		fp := join(path, "unit")
		if s, ok := p.str(f.val, fp); ok {
			d, known := Units[strings.ToLower(s)]
			switch {
			case !known:
				p.errf(f.val, fp, "%q is not a unit (want %s)", s, strings.Join(unitNames, ", "))
			case r.Unlimited:
				notWhenUnlimited(f)
			default:
				r.Unit, period = strings.ToLower(s), d
			}
		}
	} else if !r.Unlimited {
		p.errf(n, join(path, "unit"), "missing (want %s, or unlimited: true)", strings.Join(unitNames, ", "))
	}

	var requests int64
	if f, ok := get("requests_per_unit"); ok {
		fp := join(path, "requests_per_unit")
		if v, ok := p.integer(f.val, fp); ok {
			switch {
			case v < 0:
				p.errf(f.val, fp, "must not be negative, got %d (0 denies every request)", v)
			case v > math.MaxUint32:
				p.errf(f.val, fp, "%d is more than envoy's maximum %d", v, uint64(math.MaxUint32))
			default:
				requests = v
			}
		}
	} else if !r.Unlimited {
		p.errf(n, join(path, "requests_per_unit"), "missing (a whole number; 0 denies every request; or unlimited: true)")
	}

	algorithm := limit.FixedWindow
	if f, ok := get("algorithm"); ok {
		fp := join(path, "algorithm")
		if s, ok := p.str(f.val, fp); ok {
			switch {
			case !slices.Contains(limit.Algorithms, limit.Algorithm(s)):
				p.errf(f.val, fp, "%q is not an algorithm (want %s)", s, joinAny(limit.Algorithms))
			case r.Unlimited:
				notWhenUnlimited(f)
			default:
				algorithm = limit.Algorithm(s)
			}
		}
	}

	var burst int64
	if f, ok := get("burst"); ok {
		fp := join(path, "burst")
		if v, ok := p.integer(f.val, fp); ok {
			switch {
			case v < 0:
				p.errf(f.val, fp, "must not be negative, got %d", v)
			case v > math.MaxUint32:
				p.errf(f.val, fp, "%d is more than the maximum %d", v, uint64(math.MaxUint32))
			case r.Unlimited:
				notWhenUnlimited(f)
			case v > 0 && !slices.Contains(burstAlgorithms, algorithm):
				p.errf(f.val, fp, "has no effect with algorithm %s (it applies to %s)", algorithm, joinAny(burstAlgorithms))
			default:
				burst = v
			}
		}
	}

	if f, ok := get("failure_mode"); ok {
		fp := join(path, "failure_mode")
		if s, ok := p.str(f.val, fp); ok {
			switch {
			case !slices.Contains(FailureModes, FailureMode(s)):
				p.errf(f.val, fp, "%q is not a failure mode (want %s)", s, joinAny(FailureModes))
			case r.Unlimited:
				notWhenUnlimited(f)
			default:
				r.FailureMode = FailureMode(s)
			}
		}
	}

	if f, ok := get("name"); ok {
		fp := join(path, "name")
		if s, ok := p.str(f.val, fp); ok && s != "" {
			r.Name = s
			if line, dup := p.names[s]; dup {
				p.errf(f.val, fp, "%q is already the name of the rule at line %d", s, line)
			} else {
				p.names[s] = f.val.Line
			}
		}
	}

	if f, ok := get("replaces"); ok {
		p.replacesList(f.val, join(path, "replaces"), r)
	}

	if !r.Unlimited {
		r.DenyAll = requests == 0
		r.Limit = limit.Limit{Algorithm: algorithm, Requests: requests, Period: period, Burst: burst}
		if !r.DenyAll && period > 0 {
			if err := r.Limit.Validate(); err != nil {
				p.errf(n, path, "%v", err) // unreachable unless the checks above drift from limit's
			}
		}
	}
	r.version = version(r)
	return len(p.errs)+p.dropped == before
}

func (p *parser) replacesList(n *yaml.Node, path string, r *Rule) {
	n = deref(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		p.errf(n, path, "want a list of {name: ...}, got %s", kindName(n))
		return
	}
	for i, item := range n.Content {
		ip := fmt.Sprintf("%s[%d]", path, i)
		fields, ok := p.mapping(item, ip, "a mapping with name", replacesFields)
		if !ok {
			continue
		}
		var name string
		var nameNode *yaml.Node
		for _, f := range fields {
			name, _ = p.str(f.val, join(ip, "name"))
			nameNode = f.val
		}
		switch {
		case name == "":
			at := nameNode
			if at == nil {
				at = deref(item)
			}
			p.errf(at, join(ip, "name"), "must not be empty")
		case name == r.Name:
			p.errf(nameNode, join(ip, "name"), "a rule cannot replace itself")
		default:
			r.Replaces = append(r.Replaces, name)
			p.replaces = append(p.replaces, replaceRef{name: name, field: join(ip, "name"), line: nameNode.Line})
		}
	}
}

// checkReplaces runs once the whole file is read, since a rule may replace one defined later.
// Envoy accepts a name that no rule has; here it is an error, as it is almost always a typo.
func (p *parser) checkReplaces() {
	for _, ref := range p.replaces {
		if _, ok := p.names[ref.name]; !ok {
			p.errf(&yaml.Node{Line: ref.line}, ref.field, "no rule named %q in domain %q", ref.name, p.tree.name)
		}
	}
}

// version fingerprints what a store's state depends on. 32 bits are plenty: it only needs to
// differ between the old and the new limit of one descriptor.
func version(r *Rule) string {
	h := fnv.New32a()
	fmt.Fprintf(h, "%s|%d|%d|%d|%t|%t", r.Limit.Algorithm, r.Limit.Requests, r.Limit.Period, r.Limit.Burst, r.Unlimited, r.DenyAll)
	return fmt.Sprintf("%08x", h.Sum32())
}

func (p *parser) str(n *yaml.Node, path string) (string, bool) {
	n = deref(n)
	if n.Kind != yaml.ScalarNode {
		p.errf(n, path, "want a string, got %s", kindName(n))
		return "", false
	}
	if isNull(n) {
		return "", true
	}
	return n.Value, true
}

// boolean accepts YAML 1.1's spellings (yes, on, ...) as envoy's yaml.v2 does.
func (p *parser) boolean(n *yaml.Node, path string) (bool, bool) {
	n = deref(n)
	if n.Kind != yaml.ScalarNode || n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
		p.errf(n, path, "want true or false, got %s", kindName(n))
		return false, false
	}
	switch n.Value {
	case "true", "True", "TRUE", "y", "Y", "yes", "Yes", "YES", "on", "On", "ON":
		return true, true
	case "false", "False", "FALSE", "n", "N", "no", "No", "NO", "off", "Off", "OFF", "", "~", "null", "Null", "NULL":
		return false, true
	}
	p.errf(n, path, "want true or false, got %q", n.Value)
	return false, false
}

func (p *parser) integer(n *yaml.Node, path string) (int64, bool) {
	n = deref(n)
	var v int64
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&v) != nil {
		if n.Kind == yaml.ScalarNode {
			p.errf(n, path, "want a whole number, got %q", n.Value)
		} else {
			p.errf(n, path, "want a whole number, got %s", kindName(n))
		}
		return 0, false
	}
	return v, true
}

// deref follows aliases. An alias never points at an alias, so this ends.
func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n != nil && n.Kind == yaml.AliasNode {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: n.Line, Column: n.Column}
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

func isMerge(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.Value == "<<" && k.ShortTag() == "!!merge"
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "nothing"
		}
		if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
			return fmt.Sprintf("the string %q", n.Value)
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "nothing"
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func joinAny[T ~string](xs []T) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = string(x)
	}
	return strings.Join(s, ", ")
}
