package rules

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// FuzzLoad feeds arbitrary bytes to the parser: it must never panic or hang, must fail with
// file-prefixed Errors or succeed with rules that hold together. Seeds: testdata/fuzz/FuzzLoad
// (run `go test -fuzz FuzzLoad ./rate-limiter/internal/rules/` to search further).
func FuzzLoad(f *testing.F) {
	f.Add([]byte(keysDoc))
	f.Add([]byte("domain: a\ndescriptors:\n  - key: k\n    value: v*\n    share_threshold: true\n    rate_limit: {unit: minute, requests_per_unit: 0}\n"))
	f.Add([]byte("domain: a\ndescriptors:\n  - key: k\n    rate_limit: {unlimited: true, replaces: [{name: x}]}\n  - key: j\n    rate_limit: &r {unit: day, requests_per_unit: 1, name: x, algorithm: gcra, burst: 2}\n  - {key: i, rate_limit: {<<: *r, name: y}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse("fuzz.yaml", data)
		if err != nil {
			if s != nil {
				t.Fatal("a Set and an error")
			}
			var errs Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("want Errors, got %T %v", err, err)
			}
			for _, e := range errs {
				if !strings.HasPrefix(e.Error(), "fuzz.yaml") {
					t.Fatalf("error without its file: %q", e)
				}
			}
			return
		}
		if _, err := json.Marshal(s.List()); err != nil {
			t.Fatal(err)
		}
		for _, r := range s.Rules() {
			if !r.Unlimited && !r.DenyAll {
				if err := r.Limit.Validate(); err != nil {
					t.Fatalf("rule %v has an invalid limit: %v", r, err)
				}
			}
			// A descriptor of exact values always finds its own rule: the exact node is tried first.
			exact := true
			for _, e := range r.Descriptor {
				exact = exact && e.Value != "" && !strings.HasSuffix(e.Value, "*")
			}
			got, key, ok := s.Match(r.Domain, r.Descriptor)
			if exact && (!ok || got != r || !strings.HasSuffix(key, "#"+r.Version())) {
				t.Fatalf("rule %v: Match(%v) = %v, %q, %v", r, r.Descriptor, got, key, ok)
			}
			s.MatchAll(r.Domain, [][]Entry{r.Descriptor, {{Key: "k", Value: "v"}}})
		}
	})
}
