// Command kvctl is kvdb's command-line client: get, put, delete and scan over the HTTP API, a
// load generator (bench), and inspect, which prints the on-disk files — an SSTable, a WAL, the
// MANIFEST — so readers can see the formats of docs/format.md in real bytes.
//
//	kvctl put user/1 alice -ttl 1h
//	kvctl get user/1
//	kvctl scan -prefix user/ -limit 10
//	kvctl bench -n 100000 -c 16
//	kvctl inspect ./.data/kvdb              # list the files, then dump each
//	kvctl inspect ./.data/kvdb/000012.sst   # one file
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `usage: kvctl [-addr URL] <command> [flags] [args]

commands:
  get KEY                      print the value (its version and expiry to stderr)
  put KEY VALUE [-ttl 30s] [-if-version N | -create]
  delete KEY [-if-version N]
  scan [-prefix P | -start S -end E] [-limit N] [-all]
  bench [-n N] [-c C] [-value BYTES] [-reads FRACTION] [-keys N]
  inspect PATH                 a data directory, or one .sst, .log or MANIFEST file

-addr defaults to $KVDB_URL, else http://127.0.0.1:8200.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "kvctl: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("kvctl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	addr := fs.String("addr", envOr("KVDB_URL", "http://127.0.0.1:8200"), "kvdb HTTP API")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errors.New("no command")
	}
	c := &client{base: *addr}
	cmd, rest := fs.Arg(0), fs.Args()[1:]
	switch cmd {
	case "get":
		return c.get(ctx, rest, stdout, stderr)
	case "put":
		return c.put(ctx, rest, stderr)
	case "delete", "del":
		return c.del(ctx, rest)
	case "scan":
		return c.scan(ctx, rest, stdout, stderr)
	case "bench":
		return bench(ctx, c, rest, stdout, stderr)
	case "inspect":
		return inspect(rest, stdout, stderr)
	case "help", "-h":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fs.Usage()
	return fmt.Errorf("unknown command %q", cmd)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
