package rules

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// Set is an immutable, validated set of rules, one domain per file. It is safe for concurrent
// use; a reload builds a new Set and swaps it in whole.
type Set struct {
	domains map[string]*domainTree
	rules   []*Rule
	files   []string
	hash    string
}

// Load reads the rules at path: one YAML file, or every *.yaml and *.yml file directly in a
// directory (envoy's RUNTIME_ROOT/RUNTIME_SUBDIRECTORY/config/ is such a directory). Names that
// start with "." are skipped, which also skips the ..data and ..<timestamp> entries of a
// Kubernetes ConfigMap volume; symlinks are followed. An invalid file fails the whole load with
// Errors listing every problem of every file.
func Load(path string) (*Set, error) {
	srcs, err := readSources(path)
	if err != nil {
		return nil, err
	}
	return build(srcs)
}

// Parse builds a Set from one file's contents; file names it in errors.
func Parse(file string, data []byte) (*Set, error) {
	return build([]source{{name: file, data: data}})
}

// ParseFS builds a Set from the *.yaml and *.yml files directly in dir of fsys (an embed.FS of
// built-in rules, say), with the same rules as Load; errors name files by their path in fsys.
func ParseFS(fsys fs.FS, dir string) (*Set, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read rules: %w", err)
	}
	var srcs []source
	for _, e := range entries {
		if !isRulesFile(e.Name()) {
			continue
		}
		name := path.Join(dir, e.Name())
		fi, err := fs.Stat(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("read rules: %w", err)
		}
		if !fi.Mode().IsRegular() {
			continue
		}
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("read rules: %w", err)
		}
		srcs = append(srcs, source{name: name, data: data})
	}
	return build(srcs)
}

// isRulesFile: *.yaml or *.yml, not hidden.
func isRulesFile(name string) bool {
	ext := strings.ToLower(filepath.Ext(name))
	return !strings.HasPrefix(name, ".") && (ext == ".yaml" || ext == ".yml")
}

// source is one rules file's name and contents, read once so that the content hash and the
// parsed rules always describe the same bytes.
type source struct {
	name string
	data []byte
}

func readSources(dir string) ([]source, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("read rules: %w", err)
	}
	if !fi.IsDir() {
		data, err := os.ReadFile(dir)
		if err != nil {
			return nil, fmt.Errorf("read rules: %w", err)
		}
		return []source{{name: dir, data: data}}, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read rules: %w", err)
	}
	var srcs []source
	for _, e := range entries {
		if !isRulesFile(e.Name()) {
			continue
		}
		full := filepath.Join(dir, e.Name())
		fi, err := os.Stat(full)
		if errors.Is(err, fs.ErrNotExist) {
			continue // a dangling symlink, mid-way through a ConfigMap update that removes the file
		}
		if err != nil {
			return nil, fmt.Errorf("read rules: %w", err)
		}
		if !fi.Mode().IsRegular() {
			continue
		}
		data, err := os.ReadFile(full)
		if err != nil {
			return nil, fmt.Errorf("read rules: %w", err)
		}
		srcs = append(srcs, source{name: full, data: data})
	}
	return srcs, nil
}

// hashSources is the content hash the reloader compares to skip reloads that change nothing.
func hashSources(srcs []source) string {
	h := sha256.New()
	var n [8]byte
	for _, s := range srcs {
		for _, b := range [][]byte{[]byte(s.name), s.data} {
			binary.BigEndian.PutUint64(n[:], uint64(len(b)))
			h.Write(n[:])
			h.Write(b)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

func build(srcs []source) (*Set, error) {
	s := &Set{domains: map[string]*domainTree{}, hash: hashSources(srcs)}
	var errs Errors
	for _, src := range srcs {
		s.files = append(s.files, src.name)
		tree, ferrs := parseFile(src.name, src.data)
		if len(ferrs) > 0 {
			errs = append(errs, ferrs...)
			continue
		}
		if prev, dup := s.domains[tree.name]; dup {
			errs = append(errs, &FieldError{File: src.name, Line: tree.line, Field: "domain",
				Msg: fmt.Sprintf("%q is already defined in %s:%d", tree.name, prev.file, prev.line)})
			continue
		}
		s.domains[tree.name] = tree
		s.rules = append(s.rules, tree.rules...)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return s, nil
}

// Rules returns every rule, in file then line order. The slice is the caller's.
func (s *Set) Rules() []*Rule {
	if s == nil {
		return nil
	}
	return slices.Clone(s.rules)
}

// List returns every rule's JSON view, for GET /v1/rules.
func (s *Set) List() []RuleInfo {
	out := make([]RuleInfo, 0, s.Len())
	for _, r := range s.Rules() {
		out = append(out, r.Info())
	}
	return out
}

// Len is the number of rules.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.rules)
}

// HasDomain reports whether any rule is in domain.
func (s *Set) HasDomain(domain string) bool {
	if s == nil {
		return false
	}
	_, ok := s.domains[domain]
	return ok
}

// Domains returns the domains, sorted.
func (s *Set) Domains() []string {
	if s == nil {
		return nil
	}
	out := make([]string, 0, len(s.domains))
	for d := range s.domains {
		out = append(out, d)
	}
	slices.Sort(out)
	return out
}

// Files returns the files the set was loaded from.
func (s *Set) Files() []string {
	if s == nil {
		return nil
	}
	return slices.Clone(s.files)
}

// Hash is the SHA-256 of the files' names and contents, in hex.
func (s *Set) Hash() string {
	if s == nil {
		return ""
	}
	return s.hash
}
