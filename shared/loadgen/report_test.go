package loadgen

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runs returns real results: one healthy scenario with some errors and a
// slow tail, and one where every request failed (nothing to chart).
func runs(t *testing.T) []*Result {
	t.Helper()
	var n atomic.Int64
	mixed, err := Run(context.Background(), Config{Name: "get <key>", Rate: 1000, Duration: 1200 * time.Millisecond}, func(ctx context.Context) error {
		switch i := n.Add(1); {
		case i%50 == 0:
			return errors.New("http 503")
		case i%97 == 0:
			time.Sleep(20 * time.Millisecond)
		}
		return nil
	})
	require.NoError(t, err)
	down, err := Run(context.Background(), Config{Name: "all down", Rate: 200, Duration: 100 * time.Millisecond}, func(context.Context) error {
		return errors.New("dial tcp: connection refused")
	})
	require.NoError(t, err)
	return []*Result{mixed, down}
}

func TestWriteReport(t *testing.T) {
	t.Parallel()
	results := runs(t)
	dir := filepath.Join(t.TempDir(), "reports", "nested") // created if missing
	mdPath, htmlPath, err := WriteReport(dir, "KV store: GET <v2>", results...)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, "kv-store-get-v2.md"), mdPath)
	assert.Equal(t, filepath.Join(dir, "kv-store-get-v2.html"), htmlPath)

	t.Run("markdown", func(t *testing.T) {
		b, err := os.ReadFile(mdPath)
		require.NoError(t, err)
		md := string(b)
		assert.Contains(t, md, `# KV store: GET \<v2\>`)
		assert.Contains(t, md, "| scenario | target rate | achieved | sent | ok | failed | dropped | p50 | p90 | p99 | p99.9 | max |")
		r := results[0]
		assert.Contains(t, md, `| get \<key\> | 1000/s | `+fmtRate(r.Achieved)+" | 1200 | ")
		assert.Contains(t, md, " | "+fmtDuration(r.Latency.P50)+" | "+fmtDuration(r.Latency.P90)+" | "+
			fmtDuration(r.Latency.P99)+" | "+fmtDuration(r.Latency.P999)+" | "+fmtDuration(r.Latency.Max)+" |")
		assert.Contains(t, md, `| get \<key\> | http 503 | 24 |`)
		assert.Contains(t, md, "| all down | dial tcp: connection refused | 20 |")
		for _, env := range []string{runtime.Version(), runtime.GOOS + "/" + runtime.GOARCH, "NumCPU", "Date"} {
			assert.Contains(t, md, env)
		}
	})

	t.Run("html is self-contained", func(t *testing.T) {
		b, err := os.ReadFile(htmlPath)
		require.NoError(t, err)
		page := string(b)
		lower := strings.ToLower(page)

		// Two charts for the scenario with successes, none for the one without.
		assert.Equal(t, 2, strings.Count(page, "<svg"), "inline charts")
		assert.Contains(t, page, "No successful requests")
		assert.NotContains(t, page, "<?xml", "an XML prolog is invalid inside HTML")
		// Only the SVG namespace URIs may look like links; nothing is fetched.
		allowed := map[string]bool{
			"http://www.w3.org/2000/svg":   true,
			"http://www.w3.org/1999/xlink": true,
			"http://www.w3.org/1999/xhtml": true,
		}
		urls := regexp.MustCompile(`(?i)https?://[^\s"'<>)]*`).FindAllString(page, -1)
		require.NotEmpty(t, urls, "the SVG namespace should be there")
		for _, u := range urls {
			assert.True(t, allowed[u], "unexpected URL %q", u)
		}
		for _, banned := range []string{"<script", "https://", "<link", "@import", "url(", "<img", "<iframe", "src="} {
			assert.NotContains(t, lower, banned)
		}
		// Text from the caller is escaped, in the page and in the charts.
		assert.Contains(t, page, "KV store: GET &lt;v2&gt;")
		assert.NotContains(t, page, "<v2>")
		assert.NotContains(t, page, "<key>")
		// The same table as the Markdown.
		for _, h := range []string{"p50", "p90", "p99", "p99.9", "max", "dropped"} {
			assert.Contains(t, page, "<th>"+h+"</th>")
		}
		assert.Contains(t, page, "<td>"+fmtDuration(results[0].Latency.P999)+"</td>")
	})
}

func TestReportWithoutResults(t *testing.T) {
	t.Parallel()
	mdPath, htmlPath, err := WriteReport(t.TempDir(), "", nil)
	require.NoError(t, err)
	assert.Equal(t, "report.md", filepath.Base(mdPath))
	assert.FileExists(t, htmlPath)
}
