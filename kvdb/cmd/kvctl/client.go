package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// client speaks kvdb's HTTP API.
type client struct {
	base string
	http *http.Client
}

func (c *client) do(ctx context.Context, method, path string, body io.Reader, hdr http.Header) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.base, "/")+path, body)
	if err != nil {
		return nil, nil, err
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	hc := c.http
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	res, err := hc.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, nil, err
	}
	if res.StatusCode >= 300 {
		return res, b, problem(res, b)
	}
	return res, b, nil
}

// problem turns an RFC 9457 answer into an error that says what the server said.
func problem(res *http.Response, b []byte) error {
	var p struct{ Title, Detail string }
	if json.Unmarshal(b, &p) == nil && p.Title != "" {
		return fmt.Errorf("%d %s: %s", res.StatusCode, p.Title, p.Detail)
	}
	return fmt.Errorf("status %d: %s", res.StatusCode, bytes.TrimSpace(b))
}

func keyPath(key string) string { return "/v1/kv/" + url.PathEscape(key) }

func (c *client) get(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) != 1 {
		return errors.New("usage: kvctl get KEY")
	}
	res, b, err := c.do(ctx, http.MethodGet, keyPath(args[0]), nil, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "version %s", strings.Trim(res.Header.Get("ETag"), `"`))
	if e := res.Header.Get("Expires"); e != "" {
		fmt.Fprintf(stderr, ", expires %s", e)
	}
	fmt.Fprintln(stderr)
	_, err = stdout.Write(append(b, '\n'))
	return err
}

func (c *client) put(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("put", flag.ContinueOnError)
	ttl := fs.Duration("ttl", 0, "expire the key after this long")
	ifVersion := fs.Uint64("if-version", 0, "write only if the key is at this version (compare-and-set)")
	create := fs.Bool("create", false, "write only if the key does not exist")
	key, value, err := twoArgs(fs, args, "usage: kvctl put KEY VALUE [-ttl D] [-if-version N | -create]")
	if err != nil {
		return err
	}
	hdr := http.Header{}
	switch {
	case *create && *ifVersion != 0:
		return errors.New("-create and -if-version exclude each other")
	case *create:
		hdr.Set("If-None-Match", "*")
	case *ifVersion != 0:
		hdr.Set("If-Match", strconv.Quote(strconv.FormatUint(*ifVersion, 10)))
	}
	path := keyPath(key)
	if *ttl > 0 {
		path += "?ttl=" + ttl.String()
	}
	res, _, err := c.do(ctx, http.MethodPut, path, strings.NewReader(value), hdr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "version %s\n", strings.Trim(res.Header.Get("ETag"), `"`))
	return nil
}

func (c *client) del(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("delete", flag.ContinueOnError)
	ifVersion := fs.Uint64("if-version", 0, "delete only if the key is at this version")
	if err := parseInterleaved(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: kvctl delete KEY [-if-version N]")
	}
	hdr := http.Header{}
	if *ifVersion != 0 {
		hdr.Set("If-Match", strconv.Quote(strconv.FormatUint(*ifVersion, 10)))
	}
	_, _, err := c.do(ctx, http.MethodDelete, keyPath(fs.Arg(0)), nil, hdr)
	return err
}

func (c *client) scan(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("scan", flag.ContinueOnError)
	prefix := fs.String("prefix", "", "keys starting with this")
	start := fs.String("start", "", "first key (inclusive)")
	end := fs.String("end", "", "last key (exclusive)")
	limit := fs.Int("limit", 100, "keys per page")
	all := fs.Bool("all", false, "follow the cursor to the end")
	if err := parseInterleaved(fs, args); err != nil {
		return err
	}
	q := url.Values{"limit": {strconv.Itoa(*limit)}}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for name, v := range map[string]string{"prefix": *prefix, "start": *start, "end": *end} {
		if set[name] {
			q.Set(name, v)
		}
	}
	n := 0
	for {
		_, b, err := c.do(ctx, http.MethodGet, "/v1/kv?"+q.Encode(), nil, nil)
		if err != nil {
			return err
		}
		var page struct {
			Items []struct {
				Key       string     `json:"key"`
				KeyBase64 string     `json:"key_base64"`
				Value     []byte     `json:"value"`
				Version   uint64     `json:"version"`
				ExpiresAt *time.Time `json:"expires_at"`
			}
			NextCursor string `json:"next_cursor"`
		}
		if err := json.Unmarshal(b, &page); err != nil {
			return fmt.Errorf("decoding a page: %w", err)
		}
		for _, it := range page.Items {
			key := it.Key
			if it.KeyBase64 != "" {
				key = "base64:" + it.KeyBase64
			}
			fmt.Fprintf(stdout, "%s\t%s\tv%d", key, printable(it.Value), it.Version)
			if it.ExpiresAt != nil {
				fmt.Fprintf(stdout, "\texpires %s", it.ExpiresAt.Format(time.RFC3339))
			}
			fmt.Fprintln(stdout)
			n++
		}
		if page.NextCursor == "" || !*all {
			if page.NextCursor != "" {
				fmt.Fprintf(stderr, "%d keys; more after them (-all follows the cursor)\n", n)
			}
			return nil
		}
		q.Set("cursor", page.NextCursor)
	}
}

// printable shows text as text and anything else as base64.
func printable(b []byte) string {
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return "base64:" + base64.StdEncoding.EncodeToString(b)
		}
	}
	return string(b)
}

// parseInterleaved lets flags come after positional arguments too (kvctl put k v -ttl 1m).
func parseInterleaved(fs *flag.FlagSet, args []string) error {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	return fs.Parse(append([]string{"--"}, pos...))
}

func twoArgs(fs *flag.FlagSet, args []string, use string) (string, string, error) {
	if err := parseInterleaved(fs, args); err != nil {
		return "", "", err
	}
	if fs.NArg() != 2 {
		return "", "", errors.New(use)
	}
	return fs.Arg(0), fs.Arg(1), nil
}
