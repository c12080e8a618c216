package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/chat"
	"github.com/hyperscaledesignhub/DesignSystems/shared/loadgen"
	"github.com/hyperscaledesignhub/DesignSystems/shared/proc"
)

const (
	nameTwoNodes = "chat-app, 2 gateways"
	// gatewaySendRate is the per-user send limit the gateways run with: their default, as in a
	// deployment. The schedule is spread over enough members' sockets to stay under it.
	gatewaySendRate = chat.DefaultSendRate
)

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// reachable pings Redis and PostgreSQL; the answer is why not ("" when both answer).
func reachable(ctx context.Context, o options) string {
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	ropt, err := redis.ParseURL(o.redisURL)
	if err != nil {
		return fmt.Sprintf("-redis-url: %v", err)
	}
	rdb := redis.NewClient(ropt)
	defer rdb.Close()
	if err := rdb.Ping(cctx).Err(); err != nil {
		return fmt.Sprintf("Redis at %s is not reachable: %v", ropt.Addr, err)
	}
	conn, err := pgx.Connect(cctx, o.postgresURL)
	if err != nil {
		return fmt.Sprintf("PostgreSQL (-postgres-url) is not reachable: %v", err)
	}
	_ = conn.Close(context.Background())
	return ""
}

func adminExec(ctx context.Context, dsn, sql string) error {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(cctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(cctx, sql)
	return err
}

// withDatabase points a postgres:// URL (or key=value string) at database db.
func withDatabase(dsn, db string) string {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		u.Path, u.RawPath = "/"+db, ""
		return u.String()
	}
	return dsn + " dbname=" + db
}

// deletePrefix removes the run's Redis keys (SCAN + DEL on its unique prefix, nothing else).
func deletePrefix(o options, prefix string) error {
	ropt, err := redis.ParseURL(o.redisURL)
	if err != nil {
		return err
	}
	rdb := redis.NewClient(ropt)
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var cursor uint64
	for {
		keys, next, err := rdb.Scan(ctx, cursor, prefix+"*", 500).Result()
		if err != nil {
			return err
		}
		if len(keys) > 0 {
			if err := rdb.Del(ctx, keys...).Err(); err != nil {
				return err
			}
		}
		if cursor = next; cursor == 0 {
			return nil
		}
	}
}

// runTwoNodes is scenario (c): one chat-api and two chat-gateway processes on Redis and a fresh
// PostgreSQL database, o.receivers members split over the gateways, the senders on gateway 1,
// the schedule of (b). skipped says why it did not run (Redis or PostgreSQL unreachable).
func runTwoNodes(ctx context.Context, p progress, o options, root, dir string) (res *result, skipped string, err error) {
	if why := reachable(ctx, o); why != "" {
		return nil, why, nil
	}
	db := "chatbench_" + randomHex(6)
	if err := adminExec(ctx, o.postgresURL, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize()); err != nil {
		return nil, "", fmt.Errorf("create database %s: %w", db, err)
	}
	defer func() {
		if derr := adminExec(context.Background(), o.postgresURL, "DROP DATABASE IF EXISTS "+pgx.Identifier{db}.Sanitize()+" WITH (FORCE)"); derr != nil {
			p.printf("two-nodes: drop database %s: %v", db, derr)
		}
	}()
	prefix := "chatbench:" + randomHex(6) + ":"
	defer func() {
		if derr := deletePrefix(o, prefix); derr != nil {
			p.printf("two-nodes: delete Redis keys %s*: %v", prefix, derr)
		}
	}()
	p.printf("two-nodes: building ./chat-app/cmd/chat-api and ./chat-app/cmd/chat-gateway ...")
	apiBin, err := proc.Build(ctx, root, "./chat-app/cmd/chat-api", dir)
	if err != nil {
		return nil, "", err
	}
	gwBin, err := proc.Build(ctx, root, "./chat-app/cmd/chat-gateway", dir)
	if err != nil {
		return nil, "", err
	}
	common := []string{"DATABASE_URL=" + withDatabase(o.postgresURL, db), "REDIS_URL=" + o.redisURL, "KEY_PREFIX=" + prefix,
		"JWT_SECRET=" + randomHex(32), "LOG_LEVEL=warn"}
	var procs []*proc.Process
	defer func() {
		for _, s := range procs {
			_ = s.Stop(10 * time.Second)
		}
	}()
	start := func(name, bin, addrKey string, env ...string) (*proc.Process, string, error) {
		return startServer(ctx, dir, name, bin, addrKey, slices.Concat(common, env))
	}
	// The API migrates the fresh database; the gateways start after it.
	api, apiAddr, err := start("chat-api", apiBin, "HTTP_ADDR", "NODE_ID=1", "LOGIN_PER_MINUTE=0")
	if err != nil {
		return nil, "", err
	}
	procs = append(procs, api)
	var gwAddrs [2]string
	for i := range 2 {
		gw, addr, err := start(fmt.Sprintf("chat-gateway-%d", i+1), gwBin, "GATEWAY_ADDR", fmt.Sprintf("NODE_ID=%d", i+2))
		if err != nil {
			return nil, "", err
		}
		procs = append(procs, gw)
		gwAddrs[i] = addr
	}
	nSenders := min(o.receivers, max(1, int(o.rate/(0.8*gatewaySendRate))+1))
	p.printf("two-nodes: chat-api on %s, gateways on %s and %s (Redis %s, KEY_PREFIX %s, database %s); signing up %d users",
		apiAddr, gwAddrs[0], gwAddrs[1], o.redisURL, prefix, db, o.receivers)
	if o.rate/float64(nSenders) > gatewaySendRate {
		p.printf("two-nodes: %.0f sends/s over %d senders exceeds the gateway's %d sends/s per user: expect rate_limited errors (raise -receivers)",
			o.rate, nSenders, gatewaySendRate)
	}

	base := "http://" + apiAddr
	tokens, convID, err := benchGroup(ctx, base, o.receivers, "n")
	if err != nil {
		return nil, "", err
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
		ws, err := oursDial(ctx, gwAddrs[i%2], tokens[i])
		if err != nil {
			return nil, "", err
		}
		socks = append(socks, ws)
		if err := c.receive(ctx, ws, convID); err != nil {
			return nil, "", err
		}
	}
	var senders []*sender
	for i := range nSenders { // a second device of members 0..nSenders-1, all on gateway 1
		if o.senders == "http" {
			break // members 0..nSenders-1 send over chat-api instead
		}
		ws, err := oursDial(ctx, gwAddrs[0], tokens[i])
		if err != nil {
			return nil, "", err
		}
		socks = append(socks, ws)
		senders = append(senders, newSender(ws, convID))
	}

	via := "WebSocket senders on gateway 1"
	if o.senders == "http" {
		via = "HTTP senders to chat-api"
	}
	p.printf("two-nodes: %d receivers synced (%d per gateway), %d %s; %v warm-up + %v at %.0f sends/s ...",
		o.receivers, (o.receivers+1)/2, nSenders, via, o.warmup, o.duration, o.rate)
	res = &result{name: nameTwoNodes, detail: fmt.Sprintf("chat-api + 2 chat-gateway processes, store PostgreSQL, bus Redis pub/sub; %d sender sockets on gateway 1 (round-robin: the gateway allows %d sends/s per user)", nSenders, gatewaySendRate),
		receivers: o.receivers, duration: o.duration}
	cpu := func() float64 {
		var s float64
		for _, pr := range procs {
			s += procCPU(pr.Pid())
		}
		return s
	}
	cpu0 := cpu()
	var next atomic.Int64
	publish := func(ctx context.Context) error {
		at, _ := loadgen.Scheduled(ctx)
		return senders[next.Add(1)%int64(len(senders))].send(ctx, at.UnixNano())
	}
	if o.senders == "http" {
		client := publishClient(o)
		defer client.CloseIdleConnections()
		sendURL := base + "/v1/conversations/" + convID + "/messages"
		res.detail = fmt.Sprintf("chat-api + 2 chat-gateway processes, store PostgreSQL, bus Redis pub/sub; HTTP sends to chat-api as %d users round-robin over %d connections (%d sends/s per user allowed)",
			nSenders, o.publishers, gatewaySendRate)
		publish = func(ctx context.Context) error {
			at, _ := loadgen.Scheduled(ctx)
			st := strconv.FormatInt(at.UnixNano(), 10)
			return oursPublish(ctx, client, sendURL, tokens[next.Add(1)%int64(nSenders)], `{"client_msg_id":"s`+st+`","body":"`+st+`"}`)
		}
	}
	lr, err := drive(ctx, p, o, c, res.name, publish)
	if err != nil {
		return nil, "", err
	}
	res.cpuSeconds = cpu() - cpu0
	for _, pr := range procs {
		res.rssMB += procRSSMB(pr.Pid())
	}
	res.setPublished(lr)
	for _, s := range senders {
		if v := s.firstErr.Load(); v != nil {
			p.printf("two-nodes: first error frame: %s", v)
			break
		}
	}
	for _, ws := range socks {
		_ = ws.Close(websocket.StatusNormalClosure, "bye")
	}
	c.receivers.Wait()
	for _, s := range senders {
		<-s.done
	}
	fill(res, c)
	for _, pr := range procs {
		if exited, _ := pr.Exited(); exited {
			return nil, "", fmt.Errorf("%s exited during the run (logs in %s)", pr.Name, dir)
		}
	}
	return res, "", nil
}
