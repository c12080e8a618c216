package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/hyperscaledesignhub/DesignSystems/shared/loadgen"
)

// runOurs starts the one-process chat server (cmd/chat), signs up o.receivers users, puts them in
// one group conversation, connects one synced receiver socket per member and one sender socket
// (a second device of the first member), and sends at o.rate over that socket, open loop.
func runOurs(ctx context.Context, p progress, o options, bin, dir string) (*result, error) {
	rate := int(o.rate) + 1
	// SEND_RATE/SEND_BURST are a per-user abuse limit for people; one socket stands in for many
	// senders here, so it is raised above the offered rate.
	srv, addr, err := startServer(ctx, dir, "chat", bin, "HTTP_ADDR", []string{"DATABASE_URL=" + o.databaseURL, "REDIS_URL=",
		"JWT_SECRET=", "KEY_PREFIX=", "LOGIN_PER_MINUTE=0", "SEND_RATE=" + strconv.Itoa(2*rate),
		"SEND_BURST=" + strconv.Itoa(max(30, 2*rate)), "LOG_LEVEL=warn"})
	if err != nil {
		return nil, err
	}
	defer func() { _ = srv.Stop(10 * time.Second) }()
	base := "http://" + addr
	p.printf("ours: chat ready on %s (pid %d, store %s); signing up %d users and one group", addr, srv.Pid(), storeName(o), o.receivers)

	tokens, convID, err := benchGroup(ctx, base, o.receivers, "b")
	if err != nil {
		return nil, err
	}

	c := &collector{}
	var socks []*websocket.Conn
	defer func() {
		for _, ws := range socks {
			_ = ws.CloseNow()
		}
		c.receivers.Wait()
	}()
	for i := range o.receivers {
		ws, err := oursDial(ctx, addr, tokens[i])
		if err != nil {
			return nil, err
		}
		socks = append(socks, ws)
		if err := c.receive(ctx, ws, convID); err != nil {
			return nil, err
		}
	}
	var snd *sender
	publish := func(ctx context.Context) error {
		at, _ := loadgen.Scheduled(ctx)
		return snd.send(ctx, at.UnixNano())
	}
	if o.senders == "http" {
		client := publishClient(o)
		defer client.CloseIdleConnections()
		url := base + "/v1/conversations/" + convID + "/messages"
		publish = func(ctx context.Context) error {
			at, _ := loadgen.Scheduled(ctx)
			st := strconv.FormatInt(at.UnixNano(), 10)
			return oursPublish(ctx, client, url, tokens[0], `{"client_msg_id":"s`+st+`","body":"`+st+`"}`)
		}
	} else {
		ws, err := oursDial(ctx, addr, tokens[0])
		if err != nil {
			return nil, err
		}
		socks = append(socks, ws)
		snd = newSender(ws, convID)
	}

	p.printf("ours: %d receivers synced, sending over %s; %v warm-up + %v at %.0f sends/s ...", o.receivers, o.senders, o.warmup, o.duration, o.rate)
	res := &result{name: nameOurs, detail: "chat (one process), store " + storeName(o) + ", bus in memory, sends over " + o.senders,
		receivers: o.receivers, duration: o.duration}
	cpu0 := procCPU(srv.Pid())
	lr, err := drive(ctx, p, o, c, res.name, publish)
	if err != nil {
		return nil, err
	}
	res.cpuSeconds = procCPU(srv.Pid()) - cpu0
	res.rssMB = procRSSMB(srv.Pid())
	res.setPublished(lr)
	if snd != nil {
		if v := snd.firstErr.Load(); v != nil {
			p.printf("ours: first error frame: %s", v)
		}
	}
	for _, ws := range socks {
		_ = ws.Close(websocket.StatusNormalClosure, "bye")
	}
	c.receivers.Wait()
	if snd != nil {
		<-snd.done
	}
	fill(res, c)
	if exited, _ := srv.Exited(); exited {
		return nil, fmt.Errorf("chat exited during the run; its log: %s", filepath.Join(dir, "chat.log"))
	}
	return res, nil
}

// publishClient is the HTTP client of the publishes, the same for both systems: o.publishers
// connections shared by every publish (loadgen keeps the schedule; a publish waits for a free
// connection like a client's request would). No client timeout: loadgen's per-publish deadline
// is in the request's context.
func publishClient(o options) *http.Client {
	return &http.Client{Transport: &http.Transport{MaxConnsPerHost: o.publishers, MaxIdleConns: o.publishers,
		MaxIdleConnsPerHost: o.publishers}}
}

// oursPublish is one HTTP send; its errors are short kinds ("http 429"), because loadgen counts
// failures by their text.
func oursPublish(ctx context.Context, client *http.Client, url, token, body string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := client.Do(req)
	if err != nil {
		if uerr := (*neturl.Error)(nil); errors.As(err, &uerr) {
			err = uerr.Err
		}
		return err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	if res.StatusCode != http.StatusCreated {
		return fmt.Errorf("http %d", res.StatusCode)
	}
	return nil
}

func storeName(o options) string {
	if o.databaseURL == "" {
		return "in-memory"
	}
	return "PostgreSQL"
}

func oursDial(ctx context.Context, addr, token string) (*websocket.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	// batch=1, as the web client: frames that queued meanwhile come in one WebSocket message,
	// '\n'-separated — the same merging Centrifugo's JSON protocol does (protocol.md §1).
	ws, _, err := websocket.Dial(dctx, "ws://"+addr+"/ws?batch=1", &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
	if err != nil {
		return nil, fmt.Errorf("ours: dial: %w", err)
	}
	ws.SetReadLimit(1 << 20)
	if err := readUntil(ctx, ws, `"type":"ready"`); err != nil {
		_ = ws.CloseNow()
		return nil, err
	}
	return ws, nil
}

// readUntil reads frames until one containing want (set-up only, before the readers start).
func readUntil(ctx context.Context, ws *websocket.Conn, want string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		_, b, err := ws.Read(ctx)
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", want, err)
		}
		if strings.Contains(string(b), want) {
			return nil
		}
		if strings.Contains(string(b), `"type":"error"`) || strings.Contains(string(b), `"error":{`) {
			return fmt.Errorf("waiting for %s: %s", want, b)
		}
	}
}

func writeJSON(ctx context.Context, ws *websocket.Conn, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return ws.Write(ctx, websocket.MessageText, b)
}

func postJSON(ctx context.Context, url, token string, body, out any, want int) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != want {
		return fmt.Errorf("POST %s: status %d, want %d", url, res.StatusCode, want)
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(res.Body).Decode(out)
}

// receive syncs ws into conv from the start and then counts, on its own goroutine until the
// socket closes, every message frame with its send→receive latency (from the timestamp the
// sender put in the body).
func (c *collector) receive(ctx context.Context, ws *websocket.Conn, conv string) error {
	sync := map[string]any{"type": "sync", "conversations": []map[string]any{{"conversation_id": conv, "after_seq": 0}}}
	if err := writeJSON(ctx, ws, sync); err != nil {
		return err
	}
	if err := readUntil(ctx, ws, `"type":"sync_done"`); err != nil {
		return err
	}
	c.count(ws, func(line []byte) (int64, bool) {
		if !bytes.Contains(line, msgKey) {
			return 0, false
		}
		return stamp(line, bodyKey)
	}, func(code websocket.StatusCode) bool { return code == 4008 })
	return nil
}

// sender is one of our sending sockets. Each send waits for the server's answer, an ack or an error
// frame naming its client_msg_id, so that loadgen measures send→ack as a client sees it; the
// socket's single reader hands each answer to the send waiting for it.
type sender struct {
	ws       *websocket.Conn
	conv     string
	done     chan struct{} // closed when the reader stops: no answer will come
	firstErr atomic.Value  // the first error frame, whole, for the log

	mu      sync.Mutex
	pending map[string]chan error // client_msg_id → its send, until answered or given up
}

func newSender(ws *websocket.Conn, conv string) *sender {
	s := &sender{ws: ws, conv: conv, done: make(chan struct{}), pending: make(map[string]chan error)}
	go s.read()
	return s
}

// send sends one message stamped with sched (unix ns, the scheduled time) in its body, where the
// receivers read it, and in its client_msg_id, which the answer refers to. An error frame comes
// back as "error frame: <code>", a short kind for loadgen's error counts.
func (s *sender) send(ctx context.Context, sched int64) error {
	st := strconv.FormatInt(sched, 10)
	id := "s" + st
	answer := make(chan error, 1) // the reader never blocks on a send that gave up
	s.mu.Lock()
	s.pending[id] = answer
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.pending, id)
		s.mu.Unlock()
	}()
	// The pending entry exists before the frame leaves: the ack may beat Write's return.
	frame := `{"type":"send","conversation_id":"` + s.conv + `","client_msg_id":"` + id + `","body":"` + st + `"}`
	if err := s.ws.Write(ctx, websocket.MessageText, []byte(frame)); err != nil {
		return err
	}
	select {
	case err := <-answer:
		return err
	case <-s.done:
		return errSenderClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

var errSenderClosed = errors.New("sender socket closed")

func (s *sender) read() {
	defer close(s.done)
	for {
		_, msg, err := s.ws.Read(context.Background())
		if err != nil {
			return
		}
		for b := range bytes.SplitSeq(msg, []byte("\n")) {
			s.answer(b)
		}
	}
}

// answer completes the pending send a frame answers, if it is an ack or an error. Only answers
// are decoded; the socket also carries the group's messages.
func (s *sender) answer(b []byte) {
	isAck := bytes.Contains(b, ackKey)
	if !isAck && !bytes.Contains(b, errorKey) {
		return
	}
	var f struct {
		ClientMsgID string `json:"client_msg_id"`
		Ref         string `json:"ref"`
		Code        string `json:"code"`
	}
	if json.Unmarshal(b, &f) != nil {
		return
	}
	id, answer := f.ClientMsgID, error(nil)
	if !isAck {
		s.firstErr.CompareAndSwap(nil, string(b))
		id, answer = f.Ref, errors.New("error frame: "+f.Code)
	}
	s.mu.Lock()
	ch := s.pending[id]
	delete(s.pending, id)
	s.mu.Unlock()
	if ch != nil {
		ch <- answer
	}
}

// What sender and receive look for in a server frame.
var (
	ackKey   = []byte(`"type":"ack"`)
	errorKey = []byte(`"type":"error"`)
	msgKey   = []byte(`"type":"message"`)
	bodyKey  = []byte(`"body":"`)
)
