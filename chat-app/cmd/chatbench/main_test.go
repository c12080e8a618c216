package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/shared/testkit"
)

// The harness in a tiny mode against ours only: it builds and starts the real server, and must
// measure every delivery it owes (10 receivers × the publishes in a 1 s window) with a latency.
func TestTinyRunMeasuresDeliveries(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the chat server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	report := filepath.Join(t.TempDir(), "bench.md")
	var out, progress bytes.Buffer
	err := run(ctx, []string{"-skip-centrifugo", "-database-url=", "-duration=1s", "-warmup=200ms", "-receivers=10",
		"-rate=50", "-report=" + report}, &out, &progress)
	require.NoError(t, err, progress.String())

	text := out.String()
	assert.Contains(t, text, "| chat-app | ", text)
	assert.Contains(t, text, "1.0× Centrifugo at equal or lower p99: not measured", text)
	assert.Contains(t, text, "this run cannot reach it", "500 deliveries/s offered cannot meet the 50k target")
	assert.Contains(t, progress.String(), "chat-app: ")
	// 50 publishes in the window, each to 10 receivers.
	assert.Contains(t, text, "| 500 / 500 |", "every delivery owed was measured:\n%s", text)
	// ... every one acknowledged, with the publisher's latency to its ack.
	assert.Regexp(t, `\| 50 / 50 \| 0 \| `+aDuration+` \| `+aDuration+` \|`, text)
	md, err := os.ReadFile(report)
	require.NoError(t, err)
	assert.Contains(t, string(md), "| publish errors | publish p50 | publish p99 |")
}

// aDuration matches a latency as fmtDur prints it, not "-" (none measured).
const aDuration = `[0-9.]+(µs|ms)`

func TestSummarizeIsNearestRank(t *testing.T) {
	t.Parallel()
	ns := make([]int64, 1000)
	for i := range ns {
		ns[len(ns)-1-i] = int64(i+1) * int64(time.Microsecond) // 1..1000 µs, reversed
	}
	l := summarize(ns)
	assert.Equal(t, 500*time.Microsecond, l.p50)
	assert.Equal(t, 990*time.Microsecond, l.p99)
	assert.Equal(t, 999*time.Microsecond, l.p999)
	assert.Equal(t, 1000*time.Microsecond, l.max)
	assert.Equal(t, latency{}, summarize(nil))
}

func TestStampReadsTheNumberAfterTheKey(t *testing.T) {
	t.Parallel()
	n, ok := stamp([]byte(`{"type":"message","seq":3,"body":"1234567890123"}`), []byte(`"body":"`))
	assert.True(t, ok)
	assert.EqualValues(t, 1234567890123, n)
	n, ok = stamp([]byte(`{"push":{"channel":"bench","pub":{"data":{"t":42},"offset":7}}}`), []byte(`"t":`))
	assert.True(t, ok)
	assert.EqualValues(t, 42, n)
	_, ok = stamp([]byte(`{"type":"presence"}`), []byte(`"body":"`))
	assert.False(t, ok)
	_, ok = stamp([]byte(`{"body":"x"}`), []byte(`"body":"`))
	assert.False(t, ok)
}

// Scenario (a) in a tiny mode: 50 authenticated sockets on one node (one user's devices), held and
// closed, with the server's RSS before and after.
func TestTinyConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the chat server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	report := filepath.Join(t.TempDir(), "bench.md")
	var out, progress bytes.Buffer
	err := run(ctx, []string{"-scenario=connections", "-conns=50", "-report=" + report}, &out, &progress)
	require.NoError(t, err, progress.String())

	text := out.String()
	assert.Contains(t, text, "scenario (a) connections", text)
	assert.Contains(t, text, "| 50 | 1 | ", "50 connections of one user:\n%s", text)
	assert.NotContains(t, text, "N lowered", text)
	assert.Contains(t, progress.String(), "50 open in ")
	md, err := os.ReadFile(report)
	require.NoError(t, err)
	assert.Contains(t, string(md), "## (a) Connections on one node")
	assert.Contains(t, string(md), "-scenario connections -conns 50")
}

// Scenario (c) in a tiny mode: 4 receivers over two gateways on Redis and a fresh PostgreSQL
// database; every delivery owed is measured.
func TestTinyTwoNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs chat-api and two gateways")
	}
	rdb := testkit.Redis(t)
	pg := testkit.Postgres(t) // an admin connection: the benchmark creates and drops its own database
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	report := filepath.Join(t.TempDir(), "bench.md")
	var out, progress bytes.Buffer
	err := run(ctx, []string{"-scenario=two-nodes", "-redis-url=" + rdb.URL, "-postgres-url=" + pg.URL,
		"-duration=1s", "-warmup=300ms", "-receivers=4", "-rate=20", "-report=" + report}, &out, &progress)
	require.NoError(t, err, progress.String())

	text := out.String()
	assert.Contains(t, text, "scenario (c) two gateways over Redis", text)
	assert.Contains(t, text, "| chat-app, 2 gateways | ", text)
	// 20 publishes in the window, each to 4 receivers, with no send refused.
	assert.Regexp(t, `\| 80 / 80 \| 20 / 20 \| 0 \| `+aDuration+` \| `+aDuration+` \|`, text, "every delivery owed was measured")
	assert.NotContains(t, progress.String(), "drop database", "the database is dropped")
}

func TestScenarioFlag(t *testing.T) {
	t.Parallel()
	_, err := parseFlags([]string{"-scenario=nope"}, io.Discard, t.TempDir())
	require.ErrorContains(t, err, `-scenario "nope"`)
	o, err := parseFlags([]string{"-scenario=all"}, io.Discard, t.TempDir())
	require.NoError(t, err)
	assert.True(t, o.runs(scenarioFanout) && o.runs(scenarioConnections) && o.runs(scenarioTwoNodes))
	assert.Equal(t, 10000, o.conns)
}

// A sender's single reader hands each answer to the send it refers to, whatever the order of the
// answers and whatever else the socket carries; a send without an answer gives up at its deadline,
// and one on a closed socket at once.
func TestSenderMatchesAnswersToSends(t *testing.T) {
	t.Parallel()
	// The server acks even stamps and refuses odd ones, each after a message frame (the group's
	// traffic) and an error frame about something else; stamp 0 gets no answer, 1 closes the socket.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		for {
			_, b, err := ws.Read(r.Context())
			if err != nil {
				return
			}
			var f struct {
				ClientMsgID string `json:"client_msg_id"`
				Body        string `json:"body"`
			}
			if json.Unmarshal(b, &f) != nil {
				return
			}
			n, _ := strconv.Atoi(f.Body)
			answer := `{"type":"ack","client_msg_id":"` + f.ClientMsgID + `","conversation_id":"7","id":"9","seq":1,"duplicate":false}`
			switch {
			case n == 0:
				continue
			case n == 1:
				_ = ws.Close(websocket.StatusNormalClosure, "bye")
				return
			case n%2 == 1:
				answer = `{"type":"error","code":"rate_limited","message":"too many sends","ref":"` + f.ClientMsgID + `","retry_after_ms":100}`
			}
			go func() { // answers overtake one another
				time.Sleep(time.Duration(100-n) * time.Millisecond)
				for _, frame := range []string{`{"type":"message","client_msg_id":"` + f.ClientMsgID + `","body":"` + f.Body + `"}`,
					`{"type":"error","code":"invalid_frame","message":"bad","ref":"typing"}`, answer} {
					_ = ws.Write(r.Context(), websocket.MessageText, []byte(frame))
				}
			}()
		}
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	require.NoError(t, err)
	defer ws.CloseNow()
	s := newSender(ws, "7")

	var wg sync.WaitGroup
	for n := int64(2); n < 60; n++ {
		wg.Go(func() {
			err := s.send(ctx, n)
			if n%2 == 0 {
				assert.NoError(t, err, "send %d", n)
			} else {
				assert.EqualError(t, err, "error frame: rate_limited", "send %d", n)
			}
		})
	}
	wg.Wait()
	wctx, wcancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer wcancel()
	assert.ErrorIs(t, s.send(wctx, 0), context.DeadlineExceeded, "no answer")
	s.mu.Lock()
	assert.Empty(t, s.pending, "every send removed its entry")
	s.mu.Unlock()
	assert.ErrorIs(t, s.send(ctx, 1), errSenderClosed)
}

func TestCentrifugoPublishErrorsAreShortKinds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		status int
		body   string
		want   string // "" for success
	}{
		{"published", http.StatusOK, `{"result":{"offset":7}}`, ""},
		{"refused status", http.StatusServiceUnavailable, `overloaded, try later`, "http 503"},
		{"refused command", http.StatusOK, `{"error":{"code":102,"message":"unknown channel"}}`, "api error 102"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			err := centrifugoPublish(context.Background(), srv.Client(), srv.URL+"/api/publish", `{"channel":"bench","data":{"t":1}}`)
			if tc.want == "" {
				assert.NoError(t, err)
			} else {
				assert.EqualError(t, err, tc.want)
			}
		})
	}
}

// loadgen's progress line gets the receivers' deliveries/s before its line end, in both the plain
// and the terminal form, and the terminal stays detectable through the wrapper.
func TestDeliveryProgressExtendsTheLine(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"chat-app run 1.0s/3.0s  sent 5\n", `^chat-app run 1\.0s/3\.0s  sent 5  deliveries [0-9]+/s\n$`},
		{"\rchat-app run 1.0s/3.0s  sent 5\x1b[K", `^\rchat-app run 1\.0s/3\.0s  sent 5  deliveries [0-9]+/s\x1b\[K$`},
	} {
		var out bytes.Buffer
		c := &collector{}
		w := newDeliveryProgress(&out, c)
		c.live.Add(100)
		n, err := w.Write([]byte(tc.in))
		require.NoError(t, err)
		assert.Equal(t, len(tc.in), n)
		assert.Regexp(t, tc.want, out.String())
		assert.NotRegexp(t, ` deliveries 0/s`, out.String(), "the deliveries since the last line")
	}
	_, isFile := newDeliveryProgress(os.Stderr, &collector{}).(fder)
	assert.True(t, isFile, "a file keeps its Fd, so loadgen can tell a terminal")
}

func TestSweepFlags(t *testing.T) {
	t.Parallel()
	o, err := parseFlags([]string{"-sweep=500, 1000,2000", "-runs=5", "-senders=http"}, io.Discard, t.TempDir())
	require.NoError(t, err)
	assert.Equal(t, []float64{500, 1000, 2000}, o.sweep)
	assert.Equal(t, 5, o.repeat)
	assert.Equal(t, "http", o.senders)
	for _, bad := range []string{"-sweep=500,x", "-sweep=-1", "-senders=grpc", "-runs=0"} {
		_, err := parseFlags([]string{bad}, io.Discard, t.TempDir())
		assert.Error(t, err, bad)
	}
}

// The saturation point is the highest rate whose median run kept up (≥ 99 % delivered, p99 under
// 50 ms): one bad run of three does not decide it, two do.
func TestSweepSaturationIsTheMedian(t *testing.T) {
	t.Parallel()
	run := func(p99 time.Duration, delivered int64) sweepRun {
		return sweepRun{r: &result{receivers: 10, offered: 100, sentIn: delivered, received: delivered, duration: time.Second,
			lat: latency{p99: p99}, cpuSeconds: 1}}
	}
	ok, slow, lossy := run(5*time.Millisecond, 1000), run(80*time.Millisecond, 1000), run(5*time.Millisecond, 900)
	sw := &sweepResult{o: options{repeat: 3, senders: "http", publishers: 16}, points: []sweepPoint{
		{rate: 500, runs: map[string][]sweepRun{nameOurs: {ok, ok, ok}, nameCentrifugo: {ok, ok, ok}}},
		{rate: 1000, runs: map[string][]sweepRun{nameOurs: {ok, slow, ok}, nameCentrifugo: {ok, ok, lossy}}},
		{rate: 2000, runs: map[string][]sweepRun{nameOurs: {slow, slow, ok}, nameCentrifugo: {ok, lossy, ok}}},
		{rate: 3000, runs: map[string][]sweepRun{nameOurs: {lossy, lossy, ok}, nameCentrifugo: {lossy, lossy, ok}}},
	}}
	assert.Equal(t, 1000.0, sw.saturation(nameOurs))
	assert.Equal(t, 2000.0, sw.saturation(nameCentrifugo))
	var b strings.Builder
	sw.print(&b)
	assert.Contains(t, b.String(), "ours 1000/s, Centrifugo 2000/s, ours/centrifugo = 0.50×; target saturation ≥ Centrifugo's: NOT reached")
	assert.Contains(t, b.String(), "| 1000 | chat-app | 1000 | 100.00% | 5.0ms | 5.0ms / 80.0ms / 5.0ms | 1000.0 | true |")

	sw.points = sw.points[3:] // neither keeps up: nothing is decided
	b.Reset()
	sw.print(&b)
	assert.Contains(t, b.String(), "ours 0/s, Centrifugo 0/s, ours/centrifugo = 0.00×; target saturation ≥ Centrifugo's: not decided")
}
