package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hyperscaledesignhub/DesignSystems/shared/proc"
)

// kvdbDemo starts the store with SYNC=always, writes keys over HTTP in batches, shows a
// compare-and-set conflict and the Redis protocol, kills the server with SIGKILL, restarts it on
// the same directory and counts the acknowledged keys that came back.
func kvdbDemo(ctx context.Context, env *Env) (Outcome, error) {
	env.Progress("building kvdb")
	bin, err := proc.Build(ctx, env.Root, "./kvdb/cmd/kvdb", env.Dir)
	if err != nil {
		return Outcome{}, err
	}
	dataDir := filepath.Join(env.Dir, "data")
	start := func() (*proc.Process, string, string, error) {
		hp, err := proc.FreePort()
		if err != nil {
			return nil, "", "", err
		}
		rp, err := proc.FreePort()
		if err != nil {
			return nil, "", "", err
		}
		api, respAddr := fmt.Sprintf("http://127.0.0.1:%d", hp), fmt.Sprintf("127.0.0.1:%d", rp)
		p, err := proc.Start("kvdb", bin, nil, []string{"HTTP_ADDR=127.0.0.1:" + strconv.Itoa(hp),
			"RESP_ADDR=" + respAddr, "DATA_DIR=" + dataDir, "SYNC=always", "MEMTABLE_MB=1", "LOG_FORMAT=json"}, env.Log)
		if err != nil {
			return nil, "", "", err
		}
		if err := p.WaitReady(ctx, api+"/readyz"); err != nil {
			_ = p.Stop(time.Second)
			return nil, "", "", err
		}
		return p, api, respAddr, nil
	}
	srv, api, respAddr, err := start()
	if err != nil {
		return Outcome{}, err
	}
	defer func() { _ = srv.Stop(5 * time.Second) }()
	env.Progress("kvdb ready: HTTP %s, RESP %s, data in %s, SYNC=always", api, respAddr, dataDir)

	// Durable batched writes: every acknowledged batch is on disk (fsync, shared by the batch).
	const batches, perBatch = 100, 100
	t0 := time.Now()
	for b := range batches {
		ops := make([]map[string]any, perBatch)
		for i := range ops {
			n := b*perBatch + i
			ops[i] = map[string]any{"op": "put", "key": fmt.Sprintf("user/%05d", n), "value": []byte(fmt.Sprintf("value-%d", n))}
		}
		if _, err := kvRequest(ctx, http.MethodPost, api+"/v1/batch", map[string]any{"ops": ops}, nil, http.StatusOK); err != nil {
			return Outcome{}, err
		}
	}
	rate := float64(batches*perBatch) / time.Since(t0).Seconds()
	env.Progress("wrote %d keys in %d durable batches over HTTP: %.0f keys/s", batches*perBatch, batches, rate)

	// Compare-and-set: the second writer with a stale version gets 412.
	res, err := kvRequest(ctx, http.MethodPut, api+"/v1/kv/config/leader", "node-a", map[string]string{"If-None-Match": "*"}, http.StatusCreated)
	if err != nil {
		return Outcome{}, err
	}
	etag := res.Header.Get("ETag")
	if _, err := kvRequest(ctx, http.MethodPut, api+"/v1/kv/config/leader", "node-b", map[string]string{"If-Match": etag}, http.StatusOK); err != nil {
		return Outcome{}, err
	}
	if _, err := kvRequest(ctx, http.MethodPut, api+"/v1/kv/config/leader", "node-c", map[string]string{"If-Match": etag}, http.StatusPreconditionFailed); err != nil {
		return Outcome{}, err
	}
	env.Progress("compare-and-set: If-Match %s won once, the stale retry got 412 Precondition Failed", etag)

	// The Redis protocol, as redis-cli would speak it.
	replies, err := respRoundTrip(respAddr, [][]string{{"PING"}, {"SET", "greeting", "hello", "EX", "60"}, {"GET", "greeting"}, {"TTL", "greeting"}, {"GET", "user/00042"}})
	if err != nil {
		return Outcome{}, err
	}
	env.Progress("RESP: PING → %s, SET → %s, GET → %s, TTL → %s, GET user/00042 → %s", replies[0], replies[1], replies[2], replies[3], replies[4])
	if replies[2] != "hello" || replies[4] != "value-42" {
		return Outcome{}, fmt.Errorf("RESP answered %q", replies)
	}

	// Crash: SIGKILL, no shutdown, then recovery from the WAL on the same directory.
	if err := srv.Signal(syscall.SIGKILL); err != nil {
		return Outcome{}, err
	}
	_ = srv.Stop(5 * time.Second)
	env.Progress("killed kvdb with SIGKILL; restarting on the same directory")
	t1 := time.Now()
	srv, api, _, err = start()
	if err != nil {
		return Outcome{}, err
	}
	recovery := time.Since(t1)
	var page struct {
		Items      []struct{ Key string } `json:"items"`
		NextCursor string                 `json:"next_cursor"`
	}
	found, cursor := 0, ""
	for {
		u := api + "/v1/kv?prefix=user/&limit=1000"
		if cursor != "" {
			u += "&cursor=" + cursor
		}
		res, err := kvRequest(ctx, http.MethodGet, u, nil, nil, http.StatusOK)
		if err != nil {
			return Outcome{}, err
		}
		page.NextCursor = ""
		if err := json.Unmarshal(res.Body, &page); err != nil {
			return Outcome{}, err
		}
		found += len(page.Items)
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	env.Progress("after restart (ready in %s): a prefix scan finds %d of %d acknowledged keys", recovery.Round(time.Millisecond), found, batches*perBatch)
	if found != batches*perBatch {
		return Outcome{}, fmt.Errorf("lost writes: %d of %d acknowledged keys after SIGKILL", found, batches*perBatch)
	}
	return Outcome{
		Showed: "durable batches, CAS 412, RESP, kill -9 + recovery",
		Figure: fmt.Sprintf("%d/%d keys after kill -9; %.0f durable keys/s", found, batches*perBatch, rate),
	}, nil
}

// kvResponse is what kvRequest kept of an answer.
type kvResponse struct {
	Header http.Header
	Body   []byte
}

// kvRequest sends body (JSON for maps, raw for strings) and insists on the wanted status.
func kvRequest(ctx context.Context, method, url string, body any, headers map[string]string, want int) (kvResponse, error) {
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			return kvResponse{}, err
		}
		rd, ct = bytes.NewReader(buf), "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return kvResponse{}, err
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return kvResponse{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return kvResponse{}, err
	}
	if res.StatusCode != want {
		return kvResponse{}, fmt.Errorf("%s %s: status %d, want %d: %s", method, url, res.StatusCode, want, b)
	}
	return kvResponse{Header: res.Header, Body: b}, nil
}

// respRoundTrip sends commands as RESP arrays on one connection and returns each reply as text.
func respRoundTrip(addr string, cmds [][]string) ([]string, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	var out bytes.Buffer
	for _, cmd := range cmds {
		fmt.Fprintf(&out, "*%d\r\n", len(cmd))
		for _, a := range cmd {
			fmt.Fprintf(&out, "$%d\r\n%s\r\n", len(a), a)
		}
	}
	if _, err := c.Write(out.Bytes()); err != nil {
		return nil, err
	}
	r := bufio.NewReader(c)
	replies := make([]string, len(cmds))
	for i := range cmds {
		line, err := r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		line = strings.TrimSuffix(line, "\r\n")
		switch line[0] {
		case '+', ':':
			replies[i] = line[1:]
		case '-':
			return nil, fmt.Errorf("%s: %s", cmds[i][0], line[1:])
		case '$':
			n, err := strconv.Atoi(line[1:])
			if err != nil || n < 0 {
				replies[i] = "(nil)"
				continue
			}
			buf := make([]byte, n+2)
			if _, err := io.ReadFull(r, buf); err != nil {
				return nil, err
			}
			replies[i] = string(buf[:n])
		default:
			return nil, fmt.Errorf("%s: unexpected reply %q", cmds[i][0], line)
		}
	}
	return replies, nil
}
