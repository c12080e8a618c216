package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/hyperscaledesignhub/DesignSystems/shared/loadgen"
	"github.com/hyperscaledesignhub/DesignSystems/shared/proc"
)

const benchChannel = "bench"

// runCentrifugo starts Centrifugo (memory engine, anonymous clients, HTTP API without a key) on
// loopback, connects o.receivers JSON-protocol WebSocket clients subscribed to one channel and
// publishes into it over the HTTP API at o.rate, open loop.
func runCentrifugo(ctx context.Context, p progress, o options, dir string) (*result, error) {
	port, err := proc.FreePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cfg := map[string]any{
		"http_server": map[string]any{"address": "127.0.0.1", "port": port},
		"log":         map[string]any{"level": "warn"},
		"health":      map[string]any{"enabled": true},
		"engine":      map[string]any{"type": "memory"},
		"client":      map[string]any{"insecure": true, "allowed_origins": []string{"*"}},
		"http_api":    map[string]any{"insecure": true},
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(dir, "centrifugo.json")
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		return nil, err
	}
	logf, logPath, err := openLog(dir, "centrifugo.log")
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	srv, err := proc.Start("centrifugo", o.centrifugoBin, []string{"--config", cfgPath}, nil, logf)
	if err != nil {
		return nil, err
	}
	defer func() { _ = srv.Stop(10 * time.Second) }()
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := srv.WaitReady(rctx, "http://"+addr+"/health"); err != nil {
		return nil, fmt.Errorf("%w (log: %s)", err, logPath)
	}
	p.printf("centrifugo: %s ready on %s (pid %d, memory engine); connecting %d subscribers", centrifugoVersion(ctx, o.centrifugoBin), addr, srv.Pid(), o.receivers)

	c := &collector{}
	var socks []*websocket.Conn
	defer func() {
		for _, ws := range socks {
			_ = ws.CloseNow()
		}
		c.receivers.Wait()
	}()
	tKey := []byte(`"t":`)
	for range o.receivers {
		ws, err := centrifugoSubscribe(ctx, addr)
		if err != nil {
			return nil, err
		}
		socks = append(socks, ws)
		c.count(ws, func(line []byte) (int64, bool) {
			if string(bytes.TrimSpace(line)) == "{}" { // server ping: answer with a pong
				_ = ws.Write(context.Background(), websocket.MessageText, []byte("{}"))
				return 0, false
			}
			if !bytes.Contains(line, []byte(`"push"`)) {
				return 0, false
			}
			return stamp(line, tKey)
		}, func(code websocket.StatusCode) bool { return code >= 3000 })
	}

	client := publishClient(o)
	defer client.CloseIdleConnections()
	api := "http://" + addr + "/api/publish"
	p.printf("centrifugo: %d subscribers; %v warm-up + %v at %.0f publishes/s over HTTP /api/publish ...", o.receivers, o.warmup, o.duration, o.rate)
	res := &result{name: nameCentrifugo, detail: centrifugoVersion(ctx, o.centrifugoBin) + ", memory engine, HTTP API publish", receivers: o.receivers, duration: o.duration}
	cpu0 := procCPU(srv.Pid())
	lr, err := drive(ctx, p, o, c, res.name, func(ctx context.Context) error {
		at, _ := loadgen.Scheduled(ctx)
		body := `{"channel":"` + benchChannel + `","data":{"t":` + strconv.FormatInt(at.UnixNano(), 10) + `}}`
		return centrifugoPublish(ctx, client, api, body)
	})
	if err != nil {
		return nil, err
	}
	res.cpuSeconds = procCPU(srv.Pid()) - cpu0
	res.rssMB = procRSSMB(srv.Pid())
	res.setPublished(lr)
	for _, ws := range socks {
		_ = ws.Close(websocket.StatusNormalClosure, "bye")
	}
	c.receivers.Wait()
	fill(res, c)
	if exited, _ := srv.Exited(); exited {
		return nil, fmt.Errorf("centrifugo exited during the run; its log: %s", logPath)
	}
	return res, nil
}

// centrifugoPublish is one publish; its errors are short kinds ("http 503", "api error 102"),
// because loadgen counts failures by their text.
func centrifugoPublish(ctx context.Context, client *http.Client, api, body string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, api, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := client.Do(req)
	if err != nil {
		// Drop the "Post <url>:" prefix: the kind reads "dial tcp ...: connection refused".
		if uerr := (*url.Error)(nil); errors.As(err, &uerr) {
			err = uerr.Err
		}
		return err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("http %d", res.StatusCode)
	}
	// Centrifugo answers a refused command with 200 and {"error":{"code":N,"message":...}}.
	if bytes.Contains(b, []byte(`"error"`)) {
		code, _ := stamp(b, []byte(`"code":`))
		return fmt.Errorf("api error %d", code)
	}
	return nil
}

// centrifugoSubscribe connects one anonymous client over the JSON protocol and subscribes it to
// the bench channel.
func centrifugoSubscribe(ctx context.Context, addr string) (*websocket.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(dctx, "ws://"+addr+"/connection/websocket", nil)
	if err != nil {
		return nil, fmt.Errorf("centrifugo: dial: %w", err)
	}
	ws.SetReadLimit(1 << 20)
	steps := []struct{ cmd, want string }{
		{`{"id":1,"connect":{}}`, `"connect":{`},
		{`{"id":2,"subscribe":{"channel":"` + benchChannel + `"}}`, `"subscribe":{`},
	}
	for _, s := range steps {
		if err := ws.Write(ctx, websocket.MessageText, []byte(s.cmd)); err != nil {
			_ = ws.CloseNow()
			return nil, fmt.Errorf("centrifugo: %s: %w", s.cmd, err)
		}
		if err := readUntil(ctx, ws, s.want); err != nil {
			_ = ws.CloseNow()
			return nil, fmt.Errorf("centrifugo: %s: %w", s.cmd, err)
		}
	}
	return ws, nil
}

// centrifugoVersion is "Centrifugo vX.Y.Z": the binary's own version when it was built with one,
// else its module version from the build info (go install sets no -ldflags).
func centrifugoVersion(ctx context.Context, bin string) string {
	vctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(vctx, "go", "version", "-m", bin).Output()
	if err == nil {
		for line := range strings.SplitSeq(string(out), "\n") {
			if f := strings.Fields(line); len(f) >= 3 && f[0] == "mod" && f[1] == "github.com/centrifugal/centrifugo/v6" {
				return "Centrifugo " + f[2]
			}
		}
	}
	out, err = exec.CommandContext(vctx, bin, "version").Output()
	if err != nil {
		return "Centrifugo (version unknown)"
	}
	return strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
}
