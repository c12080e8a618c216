package testkit

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Env is an S3 endpoint for one test, with the settings a minio.Options (or any S3 SDK) needs.
type S3Env struct {
	Endpoint  string // host:port
	URL       string // scheme://host:port
	AccessKey string
	SecretKey string
	Region    string
	Secure    bool              // TLS; always true for the in-process fake
	Transport http.RoundTripper // trusts the fake's certificate; nil (the default transport) for a real endpoint
	Client    *minio.Client
}

// S3 serves an in-process S3 (gofakes3, in memory) over TLS on 127.0.0.1 with the given buckets,
// and shuts it down in Cleanup. TLS is not decoration: over plain HTTP, minio-go's streaming
// signature framing ends up inside multipart objects stored by gofakes3. Use Transport (or
// Client) to trust the server's certificate.
//
// With S3_ENDPOINT set (https://host:port, http://host:port, or host:port for plain HTTP) it uses
// that endpoint with S3_ACCESS_KEY, S3_SECRET_KEY and S3_REGION (default us-east-1), and creates
// the buckets that do not exist yet. Nothing is deleted there.
func S3(t testing.TB, buckets ...string) S3Env {
	t.Helper()
	var env S3Env
	if v := os.Getenv("S3_ENDPOINT"); v != "" {
		var ok bool
		if env, ok = realS3(t, v); !ok {
			return S3Env{}
		}
	} else {
		ts := httptest.NewTLSServer(gofakes3.New(s3mem.New()).Server())
		t.Cleanup(ts.Close)
		env = S3Env{
			Endpoint:  ts.Listener.Addr().String(),
			URL:       ts.URL,
			AccessKey: "testkit",
			SecretKey: "testkit-secret",
			Region:    "us-east-1",
			Secure:    true,
			Transport: ts.Client().Transport,
		}
	}
	c, err := minio.New(env.Endpoint, &minio.Options{
		Creds:     credentials.NewStaticV4(env.AccessKey, env.SecretKey, ""),
		Secure:    env.Secure,
		Transport: env.Transport,
		Region:    env.Region,
		// Path-style (host/bucket/key): 127.0.0.1 has no bucket.host DNS names.
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		t.Fatalf("testkit: S3 client for %s: %v", env.URL, err)
		return S3Env{}
	}
	env.Client = c
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	for _, b := range buckets {
		exists, err := c.BucketExists(ctx, b)
		if err == nil && !exists {
			err = c.MakeBucket(ctx, b, minio.MakeBucketOptions{Region: env.Region})
		}
		if err != nil {
			t.Fatalf("testkit: create bucket %s at %s: %v", b, env.URL, err)
			return S3Env{}
		}
	}
	return env
}

func realS3(t testing.TB, endpoint string) (S3Env, bool) {
	t.Helper()
	raw := endpoint
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		t.Fatalf("testkit: S3_ENDPOINT=%q: want https://host:port, http://host:port or host:port", endpoint)
		return S3Env{}, false
	}
	env := S3Env{
		Endpoint:  u.Host,
		URL:       u.Scheme + "://" + u.Host,
		AccessKey: os.Getenv("S3_ACCESS_KEY"),
		SecretKey: os.Getenv("S3_SECRET_KEY"),
		Region:    os.Getenv("S3_REGION"),
		Secure:    u.Scheme == "https",
	}
	if env.Region == "" {
		env.Region = "us-east-1"
	}
	dial := u.Host
	if u.Port() == "" {
		port := "80"
		if env.Secure {
			port = "443"
		}
		dial = net.JoinHostPort(u.Hostname(), port)
	}
	if err := probeWithin(func(ctx context.Context, _ string) error { return dialAny(ctx, dial) }, dial); err != nil {
		Unavailable(t, "S3 did not answer at %s (from S3_ENDPOINT): %v.\n"+
			"Fix S3_ENDPOINT, or unset it to use an in-process gofakes3 server.", env.URL, err)
		return S3Env{}, false
	}
	return env, true
}
