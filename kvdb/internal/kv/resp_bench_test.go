package kv

import (
	"bufio"
	"context"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/lsm"
	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/lsm/wal"
	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/resp"
)

// BenchmarkRESPPipeline drives the RESP server on the real engine (SYNC=group) the way
// redis-benchmark -P 16 does: connections each sending 16 commands per write and reading the 16
// replies. ns/op is per command; profile it with -cpuprofile.
func BenchmarkRESPPipeline(b *testing.B) {
	for _, bc := range []struct{ name, cmd, reply string }{
		{"SET", "*3\r\n$3\r\nSET\r\n$16\r\nkey:__rand_int__\r\n$3\r\nxxx\r\n", "+OK\r\n"},
		{"GET", "*2\r\n$3\r\nGET\r\n$16\r\nkey:__rand_int__\r\n", "$3\r\nxxx\r\n"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			db, err := lsm.Open(b.TempDir(), lsm.Options{Sync: wal.SyncGroup})
			require.NoError(b, err)
			defer db.Close()
			require.NoError(b, db.Put([]byte("key:__rand_int__"), []byte("xxx")))
			srv, err := resp.New(RESP{S: New(db, 1<<20, nil)}, resp.Options{})
			require.NoError(b, err)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(b, err)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- srv.Serve(ctx, ln) }()
			defer func() { cancel(); <-done }()

			const pipeline = 16
			request := []byte(strings.Repeat(bc.cmd, pipeline))
			want := strings.Repeat(bc.reply, pipeline)
			b.SetParallelism(8) // 16 connections on 2 cores, like redis-benchmark's 50 clients
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				nc, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					b.Error(err)
					return
				}
				defer nc.Close()
				br := bufio.NewReaderSize(nc, 64<<10)
				reply := make([]byte, len(want))
				for n := 0; pb.Next(); n++ {
					if n%pipeline != 0 {
						continue
					}
					if _, err := nc.Write(request); err != nil {
						b.Error(err)
						return
					}
					if _, err := io.ReadFull(br, reply); err != nil || string(reply) != want {
						b.Errorf("reply %q, %v", reply, err)
						return
					}
				}
			})
		})
	}
}
