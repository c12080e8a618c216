package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/hyperscaledesignhub/DesignSystems/shared/proc"
)

// chatAppDemo starts the one-process chat server on its embedded defaults, signs up three users,
// opens a group and a direct chat, connects four devices (Alice has two) and shows the protocol's
// promise: every device gets every message of its conversations exactly once and in seq order;
// a device that was away reconnects with sync after_seq and gets exactly the gap, then
// sync_done; a retried send is acknowledged as a duplicate and stored once.
func chatAppDemo(ctx context.Context, env *Env) (Outcome, error) {
	env.Progress("building chat (API + WebSocket gateway in one process)")
	bin, err := proc.Build(ctx, env.Root, "./chat-app/cmd/chat", env.Dir)
	if err != nil {
		return Outcome{}, err
	}
	port, err := proc.FreePort()
	if err != nil {
		return Outcome{}, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	base := "http://" + addr
	srv, err := proc.Start("chat", bin, nil, []string{"HTTP_ADDR=" + addr, "DATABASE_URL=", "REDIS_URL=", "JWT_SECRET=",
		"LOG_FORMAT=json"}, env.Log)
	if err != nil {
		return Outcome{}, err
	}
	defer func() { _ = srv.Stop(5 * time.Second) }()
	if err := srv.WaitReady(ctx, base+"/readyz"); err != nil {
		return Outcome{}, err
	}
	env.Progress("chat ready on %s: in-memory store, bus and presence", base)

	users := map[string]chatAuth{}
	for _, name := range []string{"alice", "bob", "carol"} {
		var a chatAuth
		if err := chatPost(ctx, base+"/v1/signup", "", map[string]string{"username": name,
			"display_name": strings.ToUpper(name[:1]) + name[1:], "password": "correct horse " + name}, &a, http.StatusCreated); err != nil {
			return Outcome{}, err
		}
		users[name] = a
	}
	var group, direct struct {
		ID string `json:"id"`
	}
	if err := chatPost(ctx, base+"/v1/conversations/group", users["alice"].Token, map[string]any{"title": "team",
		"member_ids": []string{users["bob"].User.ID, users["carol"].User.ID}}, &group, http.StatusCreated); err != nil {
		return Outcome{}, err
	}
	if err := chatPost(ctx, base+"/v1/conversations/direct", users["alice"].Token, map[string]any{"user_id": users["bob"].User.ID},
		&direct, http.StatusOK); err != nil {
		return Outcome{}, err
	}
	env.Progress("signed up alice, bob and carol over HTTP; group %q (all three) and a direct chat alice↔bob", "team")

	clock := &sendClock{sent: map[string]time.Time{}}
	convsOf := map[string][]string{"alice": {group.ID, direct.ID}, "bob": {group.ID, direct.ID}, "carol": {group.ID}}
	devices := []struct{ name, user string }{{"alice-phone", "alice"}, {"alice-laptop", "alice"}, {"bob", "bob"}, {"carol", "carol"}}
	clients := map[string]*chatClient{}
	for _, d := range devices {
		c, err := dialChat(ctx, addr, d.name, users[d.user].Token, clock)
		if err != nil {
			return Outcome{}, err
		}
		defer c.close()
		if err := c.sync(ctx, cursorsFrom(convsOf[d.user], nil)); err != nil {
			return Outcome{}, err
		}
		clients[d.name] = c
	}
	env.Progress("4 WebSockets open and synced (alice on two devices)")

	// Four senders at once, each waiting for its ack before the next send.
	type plan struct {
		device, conv string
		n            int
	}
	tag := map[string]string{group.ID: "g", direct.ID: "d"}
	send := func(round string, plans []plan) error {
		var wg sync.WaitGroup
		errs := make(chan error, len(plans))
		for _, p := range plans {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range p.n {
					if _, err := clients[p.device].send(ctx, p.conv, fmt.Sprintf("%s-%s-%s-%d", round, p.device, tag[p.conv], i),
						fmt.Sprintf("message %d from %s", i, p.device)); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		return <-errs
	}
	if err := send("r1", []plan{{"alice-phone", group.ID, 6}, {"alice-laptop", direct.ID, 6}, {"bob", group.ID, 6},
		{"bob", direct.ID, 6}, {"carol", group.ID, 6}}); err != nil {
		return Outcome{}, err
	}
	heads := map[string]int64{group.ID: 18, direct.ID: 12}
	for name, c := range clients {
		if err := c.waitHeads(ctx, heads, convsOf[userOf(name)]); err != nil {
			return Outcome{}, err
		}
	}
	total := 0
	for name, c := range clients {
		n, err := c.checkExactlyOnce(convsOf[userOf(name)], heads)
		if err != nil {
			return Outcome{}, err
		}
		total += n
	}
	env.Progress("30 messages from 5 concurrent senders: %d deliveries on 4 devices, each conversation 1..N in order, no gap, no duplicate", total)

	// Alice's laptop goes away; the others keep talking.
	laptop := clients["alice-laptop"]
	held := laptop.lastSeqs()
	laptop.close()
	env.Progress("alice-laptop disconnected holding group up to seq %d, direct up to seq %d", held[group.ID], held[direct.ID])
	if err := send("r2", []plan{{"bob", group.ID, 4}, {"carol", group.ID, 4}, {"bob", direct.ID, 3}, {"alice-phone", direct.ID, 2}}); err != nil {
		return Outcome{}, err
	}
	heads = map[string]int64{group.ID: 26, direct.ID: 17}
	for _, name := range []string{"alice-phone", "bob", "carol"} {
		if err := clients[name].waitHeads(ctx, heads, convsOf[userOf(name)]); err != nil {
			return Outcome{}, err
		}
	}
	env.Progress("13 messages sent while the laptop was away")

	back, err := dialChat(ctx, addr, "alice-laptop", users["alice"].Token, clock)
	if err != nil {
		return Outcome{}, err
	}
	defer back.close()
	if err := back.sync(ctx, cursorsFrom(convsOf["alice"], held)); err != nil {
		return Outcome{}, err
	}
	gap := 0
	for _, conv := range convsOf["alice"] {
		want := []string{}
		for s := held[conv] + 1; s <= heads[conv]; s++ {
			want = append(want, fmt.Sprintf("message %d", s))
		}
		want = append(want, fmt.Sprintf("sync_done %d", heads[conv]))
		if got := back.log(conv); !slices.Equal(got, want) {
			return Outcome{}, fmt.Errorf("alice-laptop after reconnect, conversation %s: got %v, want %v", conv, got, want)
		}
		gap += int(heads[conv] - held[conv])
	}
	env.Progress("alice-laptop reconnected with sync after_seq=%d/%d: got exactly the %d missed messages in order, then sync_done %d/%d",
		held[group.ID], held[direct.ID], gap, heads[group.ID], heads[direct.ID])

	// A retry of a send whose ack was "lost": same client_msg_id, same message.
	first, err := clients["bob"].send(ctx, group.ID, "r2-bob-g-0", "message 0 from bob")
	if err != nil {
		return Outcome{}, err
	}
	if !first.Duplicate {
		return Outcome{}, fmt.Errorf("retried send was stored again as seq %d", first.Seq)
	}
	// A fresh send must get the next seq, 27: proof the retry did not take a seq of its own.
	fresh, err := clients["carol"].send(ctx, group.ID, "r3-carol-0", "after the retry")
	if err != nil {
		return Outcome{}, err
	}
	if fresh.Seq != heads[group.ID]+1 {
		return Outcome{}, fmt.Errorf("send after the retry got seq %d, want %d", fresh.Seq, heads[group.ID]+1)
	}
	heads[group.ID]++
	env.Progress("bob retried client_msg_id r2-bob-g-0: ack duplicate=true seq %d; the next send got seq %d, so it was stored once", first.Seq, fresh.Seq)

	deliveries, gaps, dups := 0, 0, 0
	for _, c := range []*chatClient{clients["alice-phone"], clients["bob"], clients["carol"], back} {
		if err := c.waitHeads(ctx, map[string]int64{group.ID: heads[group.ID]}, []string{group.ID}); err != nil {
			return Outcome{}, err
		}
	}
	for name, c := range map[string]*chatClient{"alice-phone": clients["alice-phone"], "bob": clients["bob"], "carol": clients["carol"]} {
		n, err := c.checkExactlyOnce(convsOf[userOf(name)], heads)
		if err != nil {
			return Outcome{}, err
		}
		deliveries += n
	}
	// The laptop's two sessions together hold each message exactly once.
	for _, conv := range convsOf["alice"] {
		seqs := append(laptop.seqs(conv), back.seqs(conv)...)
		g, d := gapsAndDups(seqs, heads[conv])
		gaps, dups = gaps+g, dups+d
		deliveries += len(seqs)
	}
	if gaps+dups > 0 {
		return Outcome{}, fmt.Errorf("alice-laptop across the reconnect: %d gaps, %d duplicates", gaps, dups)
	}
	messages := heads[group.ID] + heads[direct.ID]
	p50 := clock.p50()
	env.Progress("%d messages, %d deliveries: %d gaps, %d duplicates; send→receive p50 %.1f ms over %d live deliveries",
		messages, deliveries, gaps, dups, p50.Seconds()*1000, clock.samples())

	if err := srv.Stop(5 * time.Second); err != nil {
		return Outcome{}, err
	}
	if code := back.closeCode(ctx); code != 1001 {
		return Outcome{}, fmt.Errorf("on SIGTERM the sessions were closed with %d, want 1001 (going away)", code)
	}
	env.Progress("SIGTERM: the server closed the WebSockets with 1001 (reconnect and resync) and exited cleanly")
	return Outcome{
		Showed: "exactly-once in-order delivery on 4 devices, reconnect gap sync, idempotent retry",
		Figure: fmt.Sprintf("%d messages, %d gaps, %d duplicates after a reconnect; send→receive p50 %.1f ms",
			messages, gaps, dups, p50.Seconds()*1000),
	}, nil
}

func userOf(device string) string { return strings.SplitN(device, "-", 2)[0] }

// chatAuth is the part of the signup answer the demo uses.
type chatAuth struct {
	User struct {
		ID string `json:"id"`
	} `json:"user"`
	Token string `json:"token"`
}

func chatPost(ctx context.Context, url, token string, body, out any, want int) error {
	req := map[string]string{}
	if token != "" {
		req["Authorization"] = "Bearer " + token
	}
	res, err := kvRequest(ctx, http.MethodPost, url, body, req, want)
	if err != nil {
		return err
	}
	return json.Unmarshal(res.Body, out)
}

// sendClock times send→receive: the send time of each client_msg_id, and the delay of every
// live delivery of it to another device.
type sendClock struct {
	mu     sync.Mutex
	sent   map[string]time.Time
	delays []time.Duration
}

func (s *sendClock) sending(id string) {
	s.mu.Lock()
	s.sent[id] = time.Now()
	s.mu.Unlock()
}

func (s *sendClock) received(id string, at time.Time) {
	s.mu.Lock()
	if t, ok := s.sent[id]; ok {
		s.delays = append(s.delays, at.Sub(t))
	}
	s.mu.Unlock()
}

func (s *sendClock) samples() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.delays)
}

func (s *sendClock) p50() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.delays) == 0 {
		return 0
	}
	d := slices.Clone(s.delays)
	slices.Sort(d)
	return d[len(d)/2]
}

// chatFrame is every server frame field the demo reads (clients decode leniently).
type chatFrame struct {
	Type           string `json:"type"`
	ConversationID string `json:"conversation_id"`
	Seq            int64  `json:"seq"`
	LastSeq        int64  `json:"last_seq"`
	ClientMsgID    string `json:"client_msg_id"`
	Duplicate      bool   `json:"duplicate"`
	Code           string `json:"code"`
	Message        string `json:"message"`
}

// chatClient is one device: a WebSocket and what it received, per conversation in arrival order.
type chatClient struct {
	name  string
	ws    *websocket.Conn
	clock *sendClock
	done  chan struct{} // closed when the reader stopped
	mu    sync.Mutex
	logs  map[string][]string // conversation → "message <seq>" / "sync_done <last_seq>"
	acks  map[string]chatFrame
	err   error
}

func dialChat(ctx context.Context, addr, name, token string, clock *sendClock) (*chatClient, error) {
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(dctx, "ws://"+addr+"/ws", &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
	if err != nil {
		return nil, fmt.Errorf("%s: dial: %w", name, err)
	}
	c := &chatClient{name: name, ws: ws, clock: clock, done: make(chan struct{}), logs: map[string][]string{}, acks: map[string]chatFrame{}}
	_, b, err := ws.Read(dctx)
	if err != nil {
		return nil, fmt.Errorf("%s: waiting for ready: %w", name, err)
	}
	var f chatFrame
	if err := json.Unmarshal(b, &f); err != nil || f.Type != "ready" {
		return nil, fmt.Errorf("%s: want ready, got %s", name, b)
	}
	go c.read()
	return c, nil
}

func (c *chatClient) read() {
	defer close(c.done)
	for {
		_, b, err := c.ws.Read(context.Background())
		at := time.Now()
		if err != nil {
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			return
		}
		var f chatFrame
		if err := json.Unmarshal(b, &f); err != nil {
			continue
		}
		c.mu.Lock()
		// Only live deliveries are timed: a sync replays messages sent long before.
		live := slices.ContainsFunc(c.logs[f.ConversationID], func(e string) bool { return strings.HasPrefix(e, "sync_done") })
		switch f.Type {
		case "message":
			c.logs[f.ConversationID] = append(c.logs[f.ConversationID], fmt.Sprintf("message %d", f.Seq))
		case "sync_done":
			c.logs[f.ConversationID] = append(c.logs[f.ConversationID], fmt.Sprintf("sync_done %d", f.LastSeq))
		case "ack":
			c.acks[f.ClientMsgID] = f
		case "error":
			c.err = fmt.Errorf("%s got error %s: %s", c.name, f.Code, f.Message)
		}
		c.mu.Unlock()
		if f.Type == "message" && live && !strings.Contains(f.ClientMsgID, c.name) {
			c.clock.received(f.ClientMsgID, at)
		}
	}
}

func (c *chatClient) write(ctx context.Context, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.ws.Write(ctx, websocket.MessageText, b)
}

// waitUntil polls cond until it holds, the client failed, or 10 s passed.
func (c *chatClient) waitUntil(ctx context.Context, what string, cond func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		c.mu.Lock()
		ok, err := cond(), c.err
		c.mu.Unlock()
		switch {
		case ok:
			return nil
		case err != nil:
			return fmt.Errorf("%s: %w", c.name, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %s: %w", c.name, what, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func cursorsFrom(convs []string, after map[string]int64) []map[string]any {
	var cs []map[string]any
	for _, conv := range convs {
		cs = append(cs, map[string]any{"conversation_id": conv, "after_seq": after[conv]})
	}
	return cs
}

// sync sends one sync frame and waits for every conversation's sync_done.
func (c *chatClient) sync(ctx context.Context, cursors []map[string]any) error {
	if err := c.write(ctx, map[string]any{"type": "sync", "conversations": cursors}); err != nil {
		return err
	}
	return c.waitUntil(ctx, "sync_done", func() bool {
		for _, cur := range cursors {
			log := c.logs[cur["conversation_id"].(string)]
			if len(log) == 0 || !strings.HasPrefix(log[len(log)-1], "sync_done") {
				return false
			}
		}
		return true
	})
}

// send posts a message and waits for its ack.
func (c *chatClient) send(ctx context.Context, conv, id, body string) (chatFrame, error) {
	c.clock.sending(id)
	if err := c.write(ctx, map[string]string{"type": "send", "conversation_id": conv, "client_msg_id": id, "body": body}); err != nil {
		return chatFrame{}, err
	}
	var ack chatFrame
	err := c.waitUntil(ctx, "ack of "+id, func() bool {
		a, ok := c.acks[id]
		if ok {
			delete(c.acks, id)
			ack = a
		}
		return ok
	})
	return ack, err
}

// seqs are the seqs of the messages received in conv, in arrival order.
func (c *chatClient) seqs(conv string) []int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []int64
	for _, e := range c.logs[conv] {
		var s int64
		if _, err := fmt.Sscanf(e, "message %d", &s); err == nil {
			out = append(out, s)
		}
	}
	return out
}

func (c *chatClient) log(conv string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.logs[conv])
}

// lastSeqs is, per conversation, the highest seq held contiguously from 1 (the client's cursor).
func (c *chatClient) lastSeqs() map[string]int64 {
	c.mu.Lock()
	convs := make([]string, 0, len(c.logs))
	for conv := range c.logs {
		convs = append(convs, conv)
	}
	c.mu.Unlock()
	out := map[string]int64{}
	for _, conv := range convs {
		seqs := c.seqs(conv)
		sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
		for _, s := range seqs {
			if s == out[conv]+1 {
				out[conv] = s
			}
		}
	}
	return out
}

func (c *chatClient) waitHeads(ctx context.Context, heads map[string]int64, convs []string) error {
	return c.waitUntil(ctx, fmt.Sprintf("messages up to %v", heads), func() bool {
		for _, conv := range convs {
			top := int64(0) // messages arrive in seq order, so the last one is the highest
			for _, e := range c.logs[conv] {
				var s int64
				if _, err := fmt.Sscanf(e, "message %d", &s); err == nil {
					top = s
				}
			}
			if top < heads[conv] {
				return false
			}
		}
		return true
	})
}

// checkExactlyOnce insists that each conversation arrived as exactly 1, 2, …, head.
func (c *chatClient) checkExactlyOnce(convs []string, heads map[string]int64) (int, error) {
	n := 0
	for _, conv := range convs {
		seqs := c.seqs(conv)
		for i, s := range seqs {
			if s != int64(i+1) {
				return 0, fmt.Errorf("%s, conversation %s: arrival %d is seq %d (all: %v)", c.name, conv, i+1, s, seqs)
			}
		}
		if int64(len(seqs)) != heads[conv] {
			return 0, fmt.Errorf("%s, conversation %s: %d messages, want %d", c.name, conv, len(seqs), heads[conv])
		}
		n += len(seqs)
	}
	return n, nil
}

// gapsAndDups counts the seqs of 1..head missing from seqs and the ones present more than once.
func gapsAndDups(seqs []int64, head int64) (gaps, dups int) {
	seen := map[int64]int{}
	for _, s := range seqs {
		seen[s]++
	}
	for s := int64(1); s <= head; s++ {
		switch n := seen[s]; {
		case n == 0:
			gaps++
		case n > 1:
			dups += n - 1
		}
	}
	return gaps, dups
}

func (c *chatClient) close() {
	_ = c.ws.Close(websocket.StatusNormalClosure, "bye")
	<-c.done
}

// closeCode waits for the reader to stop and returns the close code the server sent.
func (c *chatClient) closeCode(ctx context.Context) websocket.StatusCode {
	select {
	case <-c.done:
	case <-ctx.Done():
		return -1
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var ce websocket.CloseError
	if errors.As(c.err, &ce) {
		return ce.Code
	}
	return -1
}
