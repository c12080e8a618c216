package rules

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fieldErrors parses doc as rules/api.yaml and returns its errors, requiring that there are some.
func fieldErrors(t *testing.T, doc string) Errors {
	t.Helper()
	s, err := Parse("rules/api.yaml", []byte(doc))
	require.Error(t, err)
	require.Nil(t, s)
	var errs Errors
	require.True(t, errors.As(err, &errs), "%T", err)
	for _, e := range errs {
		assert.Equal(t, "rules/api.yaml", e.File)
	}
	return errs
}

func TestValidationErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		doc  string
		want string // the whole message: file, line, field and text
	}{
		{"unknown unit, nested", `domain: api
descriptors:
  - key: tenant
    descriptors:
      - key: user
        rate_limit: {unit: second, requests_per_unit: 1}
      - key: ip
        rate_limit:
          unit: fortnight
          requests_per_unit: 3
`, `rules/api.yaml:9: descriptors[0].descriptors[1].rate_limit.unit: "fortnight" is not a unit (want second, minute, hour, day, week, month, year)`},
		{"missing unit", `domain: api
descriptors:
  - key: a
    rate_limit:
      requests_per_unit: 3
`, `rules/api.yaml:5: descriptors[0].rate_limit.unit: missing (want second, minute, hour, day, week, month, year, or unlimited: true)`},
		{"unit with unlimited", `domain: api
descriptors:
  - key: a
    rate_limit: {unlimited: true, unit: second}
`, `rules/api.yaml:4: descriptors[0].rate_limit.unit: must not be set when unlimited is true`},
		{"negative requests", `domain: api
descriptors:
  - key: a
    rate_limit:
      unit: second
      requests_per_unit: -1
`, `rules/api.yaml:6: descriptors[0].rate_limit.requests_per_unit: must not be negative, got -1 (0 denies every request)`},
		{"missing requests", `domain: api
descriptors:
  - key: a
    rate_limit:
      unit: second
`, `rules/api.yaml:5: descriptors[0].rate_limit.requests_per_unit: missing (a whole number; 0 denies every request; or unlimited: true)`},
		{"requests not a number", `domain: api
descriptors:
  - key: a
    rate_limit: {unit: second, requests_per_unit: 1.5}
`, `rules/api.yaml:4: descriptors[0].rate_limit.requests_per_unit: want a whole number, got "1.5"`},
		{"requests above uint32", `domain: api
descriptors:
  - key: a
    rate_limit: {unit: second, requests_per_unit: 4294967296}
`, `rules/api.yaml:4: descriptors[0].rate_limit.requests_per_unit: 4294967296 is more than envoy's maximum 4294967295`},
		{"unknown algorithm", `domain: api
descriptors:
  - key: a
    rate_limit:
      unit: second
      requests_per_unit: 1
      algorithm: leaky_faucet
`, `rules/api.yaml:7: descriptors[0].rate_limit.algorithm: "leaky_faucet" is not an algorithm (want token_bucket, leaky_bucket, leaky_queue, fixed_window, sliding_log, sliding_window, gcra, concurrency)`},
		{"unknown failure mode", `domain: api
descriptors:
  - key: a
    rate_limit:
      unit: second
      requests_per_unit: 1
      failure_mode: sometimes
`, `rules/api.yaml:7: descriptors[0].rate_limit.failure_mode: "sometimes" is not a failure mode (want open, closed, local, error)`},
		{"negative burst", `domain: api
descriptors:
  - key: a
    rate_limit:
      unit: second
      requests_per_unit: 1
      algorithm: token_bucket
      burst: -5
`, `rules/api.yaml:8: descriptors[0].rate_limit.burst: must not be negative, got -5`},
		{"burst without a bucket", `domain: api
descriptors:
  - key: a
    rate_limit:
      unit: second
      requests_per_unit: 1
      burst: 5
`, `rules/api.yaml:7: descriptors[0].rate_limit.burst: has no effect with algorithm fixed_window (it applies to token_bucket, leaky_bucket, leaky_queue, gcra)`},
		{"replaces unknown name", `domain: api
descriptors:
  - key: a
    rate_limit:
      unit: second
      requests_per_unit: 1
      name: a_limit
  - key: b
    rate_limit:
      unit: second
      requests_per_unit: 1
      replaces:
        - name: a_limt
`, `rules/api.yaml:13: descriptors[1].rate_limit.replaces[0].name: no rule named "a_limt" in domain "api"`},
		{"replaces itself", `domain: api
descriptors:
  - key: a
    rate_limit:
      unit: second
      requests_per_unit: 1
      name: me
      replaces: [{name: me}]
`, `rules/api.yaml:8: descriptors[0].rate_limit.replaces[0].name: a rule cannot replace itself`},
		{"replaces empty", `domain: api
descriptors:
  - key: a
    rate_limit:
      unit: second
      requests_per_unit: 1
      replaces:
        - name: ""
`, `rules/api.yaml:8: descriptors[0].rate_limit.replaces[0].name: must not be empty`},
		{"duplicate name", `domain: api
descriptors:
  - key: a
    rate_limit: {unit: second, requests_per_unit: 1, name: reads}
  - key: b
    rate_limit: {unit: second, requests_per_unit: 1, name: reads}
`, `rules/api.yaml:6: descriptors[1].rate_limit.name: "reads" is already the name of the rule at line 4`},
		{"duplicate key and value", `domain: api
descriptors:
  - key: database
    value: users
    rate_limit: {unit: second, requests_per_unit: 1}
  - key: database
    value: users
    rate_limit: {unit: second, requests_per_unit: 2}
`, `rules/api.yaml:6: descriptors[1]: duplicate descriptor (key "database", value "users") (first at line 3)`},
		{"duplicate key only, nested", `domain: api
descriptors:
  - key: tenant
    descriptors:
      - key: user
        rate_limit: {unit: second, requests_per_unit: 1}
      - key: user
        rate_limit: {unit: second, requests_per_unit: 2}
`, `rules/api.yaml:7: descriptors[0].descriptors[1]: duplicate descriptor (key "user", any value) (first at line 5)`},
		{"same key and value at different levels is fine, underscore collision is not", `domain: api
descriptors:
  - key: a
    value: b_c
    descriptors:
      - key: a
        value: b_c
        rate_limit: {unit: second, requests_per_unit: 1}
  - key: a_b
    value: c
`, `rules/api.yaml:9: descriptors[1]: descriptor (key "a_b", value "c") collides with (key "a", value "b_c") at line 3: envoy joins key and value with "_", so both would match the same requests`},
		{"missing key", `domain: api
descriptors:
  - value: x
    rate_limit: {unit: second, requests_per_unit: 1}
`, `rules/api.yaml:3: descriptors[0].key: missing (every descriptor has a key)`},
		{"empty key", `domain: api
descriptors:
  - key: ""
`, `rules/api.yaml:3: descriptors[0].key: must not be empty`},
		{"unknown field in descriptor", `domain: api
descriptors:
  - key: a
    rate_limits: {unit: second, requests_per_unit: 1}
`, `rules/api.yaml:4: descriptors[0].rate_limits: unknown field (want key, value, rate_limit, descriptors, shadow_mode, detailed_metric, value_to_metric, share_threshold)`},
		{"field in the wrong place", `domain: api
descriptors:
  - key: a
    rate_limit:
      unit: second
      requests_per_unit: 1
      shadow_mode: true
`, `rules/api.yaml:7: descriptors[0].rate_limit.shadow_mode: unknown field (want unit, requests_per_unit, unlimited, name, replaces, algorithm, burst, failure_mode); shadow_mode belongs in a descriptor, next to key`},
		{"unknown field at the top", `domain: api
descriptor:
  - key: a
`, `rules/api.yaml:2: descriptor: unknown field (want domain, descriptors)`},
		{"unknown field in replaces", `domain: api
descriptors:
  - key: a
    rate_limit: {unit: second, requests_per_unit: 1, name: x}
  - key: b
    rate_limit:
      unit: second
      requests_per_unit: 1
      replaces: [{name: x, reason: because}]
`, `rules/api.yaml:9: descriptors[1].rate_limit.replaces[0].reason: unknown field (want name)`},
		{"duplicate field", `domain: api
descriptors:
  - key: a
    key: b
`, `rules/api.yaml:4: descriptors[0].key: duplicate field (first at line 3)`},
		{"missing domain", `descriptors:
  - key: a
`, `rules/api.yaml:1: domain: missing (every file names its domain)`},
		{"empty file", ``, `rules/api.yaml:1: domain: missing (every file names its domain)`},
		{"empty domain", `domain: ""
`, `rules/api.yaml:1: domain: must not be empty`},
		{"not a mapping", `- domain: api
`, `rules/api.yaml:1: want a mapping with domain and descriptors, got a list`},
		{"descriptors not a list", `domain: api
descriptors:
  key: a
`, `rules/api.yaml:3: descriptors: want a list of descriptors, got a mapping`},
		{"bool as a string", `domain: api
descriptors:
  - key: a
    shadow_mode: "true"
`, `rules/api.yaml:4: descriptors[0].shadow_mode: want true or false, got the string "true"`},
		{"share_threshold without wildcard", `domain: api
descriptors:
  - key: a
    value: b
    share_threshold: true
`, `rules/api.yaml:5: descriptors[0].share_threshold: only allowed on a wildcard value (one ending in "*")`},
		{"yaml syntax: bad indentation", `domain: api
descriptors:
  - key: a
    value: b
   rate_limit: {unit: second, requests_per_unit: 1}
`, `rules/api.yaml:5: yaml: did not find expected '-' indicator`},
		{"yaml syntax: unclosed flow", `domain: api
descriptors:
  - key: a
    rate_limit: {unit: second, requests_per_unit: 1
  - key: b
`, `rules/api.yaml:4: yaml: did not find expected ',' or '}'`},
		{"yaml syntax: tab on the first line", "\tdomain: api\n", `rules/api.yaml:1: yaml: found character that cannot start any token`},
		{"second document", `domain: api
---
domain: other
`, `rules/api.yaml:3: a second YAML document: put one domain per file`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			errs := fieldErrors(t, tc.doc)
			msgs := make([]string, len(errs))
			for i, e := range errs {
				msgs[i] = e.Error()
			}
			assert.Equal(t, []string{tc.want}, msgs)
		})
	}
}

func TestValidationCollectsAllErrors(t *testing.T) {
	t.Parallel()
	errs := fieldErrors(t, `domain: api
descriptors:
  - key: a
    rate_limit:
      unit: fortnight
      requests_per_unit: -2
      algorithm: magic
      failure_mode: maybe
      burst: -1
  - key: a
  - key: b
    colour: red
    descriptors:
      - key: c
        rate_limit: {unit: second, requests_per_unit: 1, replaces: [{name: ghost}]}
extra: true
`)
	var got []string
	for _, e := range errs {
		got = append(got, e.Error())
	}
	assert.Equal(t, []string{
		`rules/api.yaml:5: descriptors[0].rate_limit.unit: "fortnight" is not a unit (want second, minute, hour, day, week, month, year)`,
		`rules/api.yaml:6: descriptors[0].rate_limit.requests_per_unit: must not be negative, got -2 (0 denies every request)`,
		`rules/api.yaml:7: descriptors[0].rate_limit.algorithm: "magic" is not an algorithm (want token_bucket, leaky_bucket, leaky_queue, fixed_window, sliding_log, sliding_window, gcra, concurrency)`,
		`rules/api.yaml:8: descriptors[0].rate_limit.failure_mode: "maybe" is not a failure mode (want open, closed, local, error)`,
		`rules/api.yaml:9: descriptors[0].rate_limit.burst: must not be negative, got -1`,
		`rules/api.yaml:10: descriptors[1]: duplicate descriptor (key "a", any value) (first at line 3)`,
		`rules/api.yaml:12: descriptors[2].colour: unknown field (want key, value, rate_limit, descriptors, shadow_mode, detailed_metric, value_to_metric, share_threshold)`,
		`rules/api.yaml:15: descriptors[2].descriptors[0].rate_limit.replaces[0].name: no rule named "ghost" in domain "api"`,
		`rules/api.yaml:16: extra: unknown field (want domain, descriptors)`,
	}, got)
	// The joined error is one message per line.
	assert.Equal(t, strings.Join(got, "\n"), errs.Error())
}

func TestValidationErrorsAreCapped(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("domain: api\ndescriptors:\n")
	for range maxErrors + 20 {
		b.WriteString("  - key: a\n    bogus: 1\n")
	}
	errs := fieldErrors(t, b.String())
	require.Len(t, errs, maxErrors+1)
	assert.Contains(t, errs[len(errs)-1].Error(), "and ")
}

func TestValidationDeepAndRecursive(t *testing.T) {
	t.Parallel()
	// An anchor that contains its own alias must not recurse forever.
	errs := fieldErrors(t, `domain: api
descriptors: &d
  - key: a
    descriptors: *d
`)
	assert.Contains(t, errs.Error(), "nested deeper than")
}

func TestLoadDuplicateDomainAcrossFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.yaml"), "domain: api\n")
	writeFile(t, filepath.Join(dir, "b.yml"), "# same domain\ndomain: api\n")
	_, err := Load(dir)
	require.Error(t, err)
	assert.Equal(t, filepath.Join(dir, "b.yml")+`:2: domain: "api" is already defined in `+filepath.Join(dir, "a.yaml")+`:1`, err.Error())
}

func TestLoadCollectsErrorsOfEveryFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.yaml"), "domain: a\ndescriptors:\n  - key: x\n    rate_limit: {unit: eon, requests_per_unit: 1}\n")
	writeFile(t, filepath.Join(dir, "b.yaml"), "domain: b\nbogus: 1\n")
	_, err := Load(dir)
	require.Error(t, err)
	assert.Equal(t, filepath.Join(dir, "a.yaml")+`:4: descriptors[0].rate_limit.unit: "eon" is not a unit (want second, minute, hour, day, week, month, year)`+"\n"+
		filepath.Join(dir, "b.yaml")+`:2: bogus: unknown field (want domain, descriptors)`, err.Error())
}

func TestLoadDirectory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.yaml"), "domain: a\ndescriptors:\n  - {key: x, rate_limit: {unit: second, requests_per_unit: 1}}\n")
	writeFile(t, filepath.Join(dir, "b.YML"), "domain: b\n")
	writeFile(t, filepath.Join(dir, "README.md"), "not rules")
	writeFile(t, filepath.Join(dir, ".hidden.yaml"), "not: rules")
	require.NoError(t, os.Mkdir(filepath.Join(dir, "sub.yaml"), 0o755))
	require.NoError(t, os.Symlink(filepath.Join(dir, "gone.yaml"), filepath.Join(dir, "dangling.yaml")))
	writeFile(t, filepath.Join(dir, "real", "c.yaml"), "domain: c\n")
	require.NoError(t, os.Symlink(filepath.Join(dir, "real", "c.yaml"), filepath.Join(dir, "c.yaml")))

	s, err := Load(dir)
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b", "c"}, s.Domains())
	assert.Equal(t, 1, s.Len())
	assert.Len(t, s.Hash(), 64)

	one, err := Load(filepath.Join(dir, "a.yaml"))
	require.NoError(t, err)
	assert.Equal(t, []string{"a"}, one.Domains())

	_, err = Load(filepath.Join(dir, "missing"))
	require.ErrorIs(t, err, os.ErrNotExist)

	empty, err := Load(t.TempDir())
	require.NoError(t, err, "a directory without rules is an empty set")
	assert.Equal(t, 0, empty.Len())
}

func TestParseFS(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{
		"rules/a.yaml":      {Data: []byte("domain: a\ndescriptors:\n  - {key: x, rate_limit: {unit: second, requests_per_unit: 1}}\n")},
		"rules/b.yml":       {Data: []byte("domain: b\n")},
		"rules/notes.txt":   {Data: []byte("ignored")},
		"rules/.hidden.yml": {Data: []byte("ignored: true")},
		"rules/sub/c.yaml":  {Data: []byte("domain: c\n")},
	}
	s, err := ParseFS(fsys, "rules")
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b"}, s.Domains())
	assert.Equal(t, "rules/a.yaml", s.Rules()[0].File)

	fsys["rules/b.yml"] = &fstest.MapFile{Data: []byte("domain: b\nbogus: 1\n")}
	_, err = ParseFS(fsys, "rules")
	require.EqualError(t, err, "rules/b.yml:2: bogus: unknown field (want domain, descriptors)")

	_, err = ParseFS(fsys, "nope")
	require.ErrorIs(t, err, fs.ErrNotExist)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
}
