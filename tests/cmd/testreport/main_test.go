package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func report(t *testing.T, stream string) (string, int) {
	t.Helper()
	tl := &tally{output: map[string]*strings.Builder{}, pkgTests: map[string]int{}, pkgSkips: map[string]int{}}
	var out strings.Builder
	require.NoError(t, tl.read(strings.NewReader(stream), &out))
	code := tl.summary(&out)
	return out.String(), code
}

const pkg = `"Package":"github.com/hyperscaledesignhub/DesignSystems/shared/x"`

func TestCountsAndSkipReasons(t *testing.T) {
	out, code := report(t, strings.Join([]string{
		`{"Action":"run",` + pkg + `,"Test":"TestA"}`,
		`{"Action":"pass",` + pkg + `,"Test":"TestA","Elapsed":0.1}`,
		`{"Action":"output",` + pkg + `,"Test":"TestRedis","Output":"=== RUN   TestRedis\n"}`,
		`{"Action":"output",` + pkg + `,"Test":"TestRedis","Output":"redis: 2026/11/27 pool.go:770: failed to dial\n"}`,
		`{"Action":"output",` + pkg + `,"Test":"TestRedis","Output":"    redis.go:40: redis not reachable at 127.0.0.1:6379\n"}`,
		`{"Action":"output",` + pkg + `,"Test":"TestRedis","Output":"--- SKIP: TestRedis (0.00s)\n"}`,
		`{"Action":"skip",` + pkg + `,"Test":"TestRedis"}`,
		`{"Action":"pass",` + pkg + `,"Elapsed":0.3}`,
	}, "\n"))
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "shared/x")
	assert.Contains(t, out, "TestRedis: redis.go:40: redis not reachable at 127.0.0.1:6379")
	assert.True(t, strings.HasSuffix(out, "test: 1 passed, 0 failed, 1 skipped\n"), out)
}

func TestFailuresShowOutputAndExitNonZero(t *testing.T) {
	out, code := report(t, strings.Join([]string{
		`{"Action":"output",` + pkg + `,"Test":"TestB","Output":"    b_test.go:9: want 2, got 3\n"}`,
		`{"Action":"fail",` + pkg + `,"Test":"TestB","Elapsed":0.1}`,
		`{"Action":"fail",` + pkg + `,"Elapsed":0.2}`,
	}, "\n"))
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "want 2, got 3")
	assert.Contains(t, out, "test: 0 passed, 1 failed, 0 skipped")

	out, code = report(t, `{"ImportPath":"example/broken","Action":"build-fail"}`)
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "example/broken [build failed]")

	_, code = report(t, `{"Action":"pass",`+pkg+`,"Test":"TestA"}`+"\ngo test exit status 2")
	assert.Equal(t, 1, code, "a non-zero go test exit fails even when every seen test passed")

	_, code = report(t, "")
	assert.Equal(t, 1, code, "no test ran")
}
