package resp_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/resp"
)

// BenchmarkPipelinedGetSet measures the server per command over loopback TCP with the memory
// store, the way redis-benchmark -P 16 drives it: batches of 16 commands (8 SET, 8 GET) in one
// write, the 16 replies read back before the next batch. ns/op is per command.
func BenchmarkPipelinedGetSet(b *testing.B) {
	srv, err := resp.New(resp.NewMemStore(nil), resp.Options{})
	require.NoError(b, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	defer func() {
		cancel()
		require.NoError(b, <-done)
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(b, err)
	defer nc.Close()

	const batch = 16
	request := []byte(strings.Repeat("*3\r\n$3\r\nSET\r\n$8\r\nkey:0001\r\n$3\r\nxyz\r\n*2\r\n$3\r\nGET\r\n$8\r\nkey:0001\r\n", batch/2))
	want := strings.Repeat("+OK\r\n$3\r\nxyz\r\n", batch/2)
	reply := make([]byte, len(want))
	br := bufio.NewReaderSize(nc, 64<<10)
	b.ReportAllocs()
	b.SetBytes(int64(len(request)) / batch)
	n := 0
	for b.Loop() {
		if n%batch == 0 {
			_, err := nc.Write(request)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(br, reply); err != nil {
				b.Fatal(err)
			}
			if string(reply) != want {
				b.Fatalf("reply %q", reply)
			}
		}
		n++
	}
}
