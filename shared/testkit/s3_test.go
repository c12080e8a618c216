package testkit

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestS3RoundTrip(t *testing.T) {
	t.Parallel()
	env := S3(t, "media", "thumbs")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	assert.True(t, env.Secure)
	assert.Equal(t, "https://"+env.Endpoint, env.URL)
	for _, b := range []string{"media", "thumbs"} {
		ok, err := env.Client.BucketExists(ctx, b)
		require.NoError(t, err)
		assert.True(t, ok, "bucket %s", b)
	}

	small := []byte("hello, s3")
	_, err := env.Client.PutObject(ctx, "thumbs", "a.txt", bytes.NewReader(small), int64(len(small)), minio.PutObjectOptions{})
	require.NoError(t, err)
	assert.Equal(t, small, getObject(t, ctx, env.Client, "thumbs", "a.txt", minio.GetObjectOptions{}))

	// 17 MiB in 5 MiB parts: a multipart upload, the case plain HTTP corrupts.
	big := make([]byte, 17<<20+123)
	rnd := rand.NewChaCha8([32]byte{1})
	_, _ = rnd.Read(big)
	info, err := env.Client.PutObject(ctx, "media", "videos/big.bin", bytes.NewReader(big), int64(len(big)),
		minio.PutObjectOptions{PartSize: 5 << 20, ContentType: "application/octet-stream"})
	require.NoError(t, err)
	assert.EqualValues(t, len(big), info.Size)
	got := getObject(t, ctx, env.Client, "media", "videos/big.bin", minio.GetObjectOptions{})
	assert.Equal(t, len(big), len(got))
	assert.True(t, bytes.Equal(big, got), "multipart object came back different")

	var rng minio.GetObjectOptions
	const from, to = 5<<20 - 10, 5<<20 + 99 // across a part boundary
	require.NoError(t, rng.SetRange(from, to))
	assert.True(t, bytes.Equal(big[from:to+1], getObject(t, ctx, env.Client, "media", "videos/big.bin", rng)),
		"range read differs")
}

// S3_ENDPOINT names a server (here another gofakes3, over plain HTTP): S3 uses it and creates the
// missing buckets.
func TestS3FromEnv(t *testing.T) {
	ts := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	defer ts.Close()
	t.Setenv("S3_ENDPOINT", ts.URL)
	t.Setenv("S3_ACCESS_KEY", "ak")
	t.Setenv("S3_SECRET_KEY", "sk")
	t.Setenv("CI", "true") // the server is there: failing to reach it must fail, not skip

	env := S3(t, "from-env")
	assert.Equal(t, ts.Listener.Addr().String(), env.Endpoint)
	assert.False(t, env.Secure)
	assert.Equal(t, "ak", env.AccessKey)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	ok, err := env.Client.BucketExists(ctx, "from-env")
	require.NoError(t, err)
	assert.True(t, ok)
	S3(t, "from-env") // already exists: no error
}

func getObject(t *testing.T, ctx context.Context, c *minio.Client, bucket, key string, opts minio.GetObjectOptions) []byte {
	t.Helper()
	obj, err := c.GetObject(ctx, bucket, key, opts)
	require.NoError(t, err)
	defer obj.Close()
	b, err := io.ReadAll(obj)
	require.NoError(t, err)
	return b
}
