package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/coder/websocket"

	"github.com/hyperscaledesignhub/DesignSystems/shared/loadgen"
	"github.com/hyperscaledesignhub/DesignSystems/shared/proc"
)

// chatSenders is how many sender sockets share the arrivals. Each is a second device of one of
// the group's members, and never syncs, so it only gets its acks.
const chatSenders = 8

// chatAppLoad drives the one-process chat server (embedded defaults) over WebSockets: a group of
// CHAT_GROUP receivers (20 by default), each on its own synced socket, and open-loop sends at
// p.Rate spread over chatSenders sockets. The loadgen latency is send → ack (the message is
// stored and published); the fan-out is measured beside it — every message frame the receivers
// read, its delay from the send timestamp in its body — and printed as an extra line.
//
// The per-user send limit (10/s) is an abuse control for people; here a few sockets stand in for
// many users, so SEND_RATE and SEND_BURST are raised to let p.Rate through.
func chatAppLoad(ctx context.Context, p Params) ([]*loadgen.Result, error) {
	group := 20
	if v := os.Getenv("CHAT_GROUP"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < chatSenders {
			return nil, fmt.Errorf("CHAT_GROUP=%q: want a number >= %d", v, chatSenders)
		}
		group = n
	}
	dir, err := os.MkdirTemp("", "loadtest-chat-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	bin, err := build(ctx, "./chat-app/cmd/chat", dir)
	if err != nil {
		return nil, err
	}
	port, err := proc.FreePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	perSender := int(p.Rate/chatSenders) + 1
	srv, err := proc.Start("chat", bin, nil, []string{"HTTP_ADDR=" + addr, "DATABASE_URL=", "REDIS_URL=", "JWT_SECRET=",
		"LOGIN_PER_MINUTE=0", "SEND_RATE=" + strconv.Itoa(2*perSender), "SEND_BURST=" + strconv.Itoa(max(30, 2*perSender)),
		"LOG_LEVEL=warn"}, nil)
	if err != nil {
		return nil, err
	}
	defer func() { _ = srv.Stop(10 * time.Second) }()
	base := "http://" + addr
	if err := srv.WaitReady(ctx, base+"/readyz"); err != nil {
		return nil, err
	}
	if p.Progress != nil {
		fmt.Fprintf(p.Progress, "chat-app: signing up %d users, one group, %d receivers and %d senders over WebSockets\n", group, group, chatSenders)
	}

	ids, tokens := make([]string, group), make([]string, group)
	for i := range group {
		var a struct {
			User struct {
				ID string `json:"id"`
			} `json:"user"`
			Token string `json:"token"`
		}
		if err := chatLoadPost(ctx, base+"/v1/signup", "", map[string]string{"username": fmt.Sprintf("load%03d", i),
			"display_name": fmt.Sprintf("Load %d", i), "password": "load test password"}, &a, http.StatusCreated); err != nil {
			return nil, err
		}
		ids[i], tokens[i] = a.User.ID, a.Token
	}
	var conv struct {
		ID string `json:"id"`
	}
	if err := chatLoadPost(ctx, base+"/v1/conversations/group", tokens[0], map[string]any{"title": "load", "member_ids": ids[1:]},
		&conv, http.StatusCreated); err != nil {
		return nil, err
	}

	fan := &fanOut{hist: hdrhistogram.New(1, time.Minute.Microseconds(), 3)}
	var receivers []*websocket.Conn
	defer func() {
		for _, ws := range receivers {
			_ = ws.CloseNow()
		}
		fan.wg.Wait()
	}()
	for i := range group {
		ws, err := chatLoadDial(ctx, addr, tokens[i])
		if err != nil {
			return nil, err
		}
		receivers = append(receivers, ws)
		if err := chatLoadWrite(ctx, ws, map[string]any{"type": "sync", "conversations": []map[string]any{{"conversation_id": conv.ID, "after_seq": 0}}}); err != nil {
			return nil, err
		}
		if err := chatLoadUntil(ctx, ws, "sync_done"); err != nil {
			return nil, err
		}
		fan.wg.Add(1)
		go fan.receive(ws)
	}
	senders := make([]*chatSender, chatSenders)
	for i := range senders {
		ws, err := chatLoadDial(ctx, addr, tokens[i])
		if err != nil {
			return nil, err
		}
		senders[i] = &chatSender{ws: ws, acks: map[string]chan error{}, done: make(chan struct{})}
		defer senders[i].close()
		go senders[i].read()
	}

	warmup := time.Second
	fan.from.Store(time.Now().Add(warmup).UnixNano())
	fan.to.Store(time.Now().Add(warmup + p.Duration).UnixNano())
	var next, acked atomic.Int64 // acked: sends stamped inside the measured window
	target := func(ctx context.Context) error {
		n := next.Add(1)
		sent := time.Now().UnixNano() // the send timestamp the receivers measure from
		err := senders[n%chatSenders].send(ctx, conv.ID, "l-"+strconv.FormatInt(n, 36), sent)
		if err == nil && fan.inWindow(sent) {
			acked.Add(1)
		}
		return err
	}
	r, err := loadgen.Run(ctx, loadgen.Config{Name: fmt.Sprintf("chat-app WebSocket send→ack, group of %d (embedded)", group),
		Rate: p.Rate, Duration: p.Duration, Warmup: warmup, Timeout: 5 * time.Second, Progress: p.Progress}, target)
	if err != nil {
		return nil, err
	}
	// Let the last fan-outs arrive: stop when the count holds still for 200 ms (at most 5 s).
	for last, deadline := int64(-1), time.Now().Add(5*time.Second); time.Now().Before(deadline); {
		n := fan.count()
		if n == last {
			break
		}
		last = n
		time.Sleep(200 * time.Millisecond)
	}
	delivered, closed, h := fan.snapshot()
	expected := acked.Load() * int64(group)
	line := fmt.Sprintf("chat-app fan-out to %d receivers: %d of %d expected deliveries (%.0f messages/s delivered over the %s window); send→receive p50 %s, p99 %s, max %s",
		group, delivered, expected, float64(delivered)/r.Duration.Seconds(), r.Duration,
		time.Duration(h.ValueAtQuantile(50))*time.Microsecond, time.Duration(h.ValueAtQuantile(99))*time.Microsecond,
		time.Duration(h.Max())*time.Microsecond)
	if closed > 0 {
		line += fmt.Sprintf("; %d receiver sockets closed by the server (slow consumer, 4008)", closed)
	}
	fmt.Println(line)
	return []*loadgen.Result{r}, nil
}

// fanOut counts what the receivers read: message frames whose send timestamp falls in the
// measured window, and their send→receive delay.
type fanOut struct {
	wg        sync.WaitGroup
	from, to  atomic.Int64 // measured window, unix ns of the send
	mu        sync.Mutex
	hist      *hdrhistogram.Histogram // microseconds
	delivered int64
	closed    int
}

func (f *fanOut) receive(ws *websocket.Conn) {
	defer f.wg.Done()
	for {
		_, b, err := ws.Read(context.Background())
		at := time.Now().UnixNano()
		if err != nil {
			if websocket.CloseStatus(err) == 4008 {
				f.mu.Lock()
				f.closed++
				f.mu.Unlock()
			}
			return
		}
		var m struct {
			Type string `json:"type"`
			Body string `json:"body"`
		}
		if json.Unmarshal(b, &m) != nil || m.Type != "message" {
			continue
		}
		sent, err := strconv.ParseInt(m.Body, 10, 64)
		if err != nil || !f.inWindow(sent) {
			continue
		}
		f.mu.Lock()
		f.delivered++
		_ = f.hist.RecordValue(max(1, (at-sent)/1000))
		f.mu.Unlock()
	}
}

func (f *fanOut) inWindow(sent int64) bool { return sent >= f.from.Load() && sent < f.to.Load() }

func (f *fanOut) count() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.delivered
}

func (f *fanOut) snapshot() (int64, int, *hdrhistogram.Histogram) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.delivered, f.closed, hdrhistogram.Import(f.hist.Export())
}

// chatSender is a socket that sends and matches acks (and errors) to sends by client_msg_id.
type chatSender struct {
	ws   *websocket.Conn
	mu   sync.Mutex
	acks map[string]chan error
	done chan struct{}
}

func (s *chatSender) send(ctx context.Context, conv, id string, sent int64) error {
	ch := make(chan error, 1)
	s.mu.Lock()
	s.acks[id] = ch
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.acks, id)
		s.mu.Unlock()
	}()
	body := strconv.FormatInt(sent, 10)
	if err := chatLoadWrite(ctx, s.ws, map[string]string{"type": "send", "conversation_id": conv, "client_msg_id": id, "body": body}); err != nil {
		return errors.New("write error")
	}
	select {
	case err := <-ch:
		return err
	case <-s.done:
		return errors.New("connection closed")
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *chatSender) read() {
	defer close(s.done)
	for {
		_, b, err := s.ws.Read(context.Background())
		if err != nil {
			return
		}
		var f struct {
			Type        string `json:"type"`
			ClientMsgID string `json:"client_msg_id"`
			Code        string `json:"code"`
			Ref         string `json:"ref"`
		}
		if json.Unmarshal(b, &f) != nil {
			continue
		}
		id, res := f.ClientMsgID, error(nil)
		switch f.Type {
		case "ack":
		case "error":
			id, res = f.Ref, errors.New(f.Code) // e.g. rate_limited: a short kind for the report
		default:
			continue
		}
		s.mu.Lock()
		if ch, ok := s.acks[id]; ok {
			ch <- res
		}
		s.mu.Unlock()
	}
}

func (s *chatSender) close() {
	_ = s.ws.Close(websocket.StatusNormalClosure, "bye")
	<-s.done
}

func chatLoadDial(ctx context.Context, addr, token string) (*websocket.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(dctx, "ws://"+addr+"/ws", &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	ws.SetReadLimit(1 << 20)
	if err := chatLoadUntil(ctx, ws, "ready"); err != nil {
		_ = ws.CloseNow()
		return nil, err
	}
	return ws, nil
}

// chatLoadUntil reads frames until one of type want (set-up only, before the readers start).
func chatLoadUntil(ctx context.Context, ws *websocket.Conn, want string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		_, b, err := ws.Read(ctx)
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", want, err)
		}
		if strings.Contains(string(b), `"type":"`+want+`"`) {
			return nil
		}
		if strings.Contains(string(b), `"type":"error"`) {
			return fmt.Errorf("waiting for %s: %s", want, b)
		}
	}
}

func chatLoadWrite(ctx context.Context, ws *websocket.Conn, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return ws.Write(ctx, websocket.MessageText, b)
}

func chatLoadPost(ctx context.Context, url, token string, body, out any, want int) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(string(b)))
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
	return json.NewDecoder(res.Body).Decode(out)
}
