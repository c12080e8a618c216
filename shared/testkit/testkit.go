// Package testkit gives a test an isolated, real backend — a Redis key prefix, a fresh PostgreSQL
// database, an in-process Kafka-protocol cluster, an S3 endpoint — and removes it in t.Cleanup.
//
//	func TestStore(t *testing.T) {
//		t.Parallel()
//		db := testkit.Postgres(t) // a new database, dropped when the test ends
//		store := pgstore.New(db.Pool)
//		...
//	}
//
// Where a backend comes from, in order:
//
//  1. the environment variable that names it (REDIS_URL, DATABASE_URL, KAFKA_BROKERS, S3_ENDPOINT);
//  2. otherwise the local default: Redis and PostgreSQL on 127.0.0.1, Kafka (kfake) and S3
//     (gofakes3) in-process;
//  3. otherwise, when the local Redis or PostgreSQL does not answer within 2 s and a Docker engine
//     does, a container (redis:7-alpine, postgres:16-alpine) started once and shared by every test
//     of the process, still isolated per test by key prefix or database. testcontainers' reaper
//     removes it when the test process exits. A variable that is set but does not answer never
//     falls back to a container: the test asked for that server.
//
// When no backend answers, the test is skipped with a reason that names the service, the address
// tried, the variable that changes it and how to start one. With CI set to a true value (CI=true)
// the same message fails the test instead, so a CI job cannot pass by skipping everything. Chromium
// and FFmpeg follow the same policy.
package testkit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
)

// probeTimeout bounds each "does it answer?" check, so an absent service costs seconds, not minutes.
const probeTimeout = 2 * time.Second

// cleanupTimeout bounds each Cleanup; it cannot use t.Context, which is already canceled then.
const cleanupTimeout = 30 * time.Second

// Unavailable applies the absent-backend policy: skip the test with the reason, or fail it when
// the CI environment variable is true. Tests that reach a backend testkit does not provide (a
// benchmark's own Redis database, say) call it too, so the policy lives in one place.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := "testkit: " + fmt.Sprintf(format, args...)
	if ci := os.Getenv("CI"); truthy(ci) {
		t.Fatalf("%s\n(CI=%s: a missing backend fails the test instead of skipping it)", msg, ci)
		return
	}
	t.Skipf("%s\n(skipped; with CI=true this fails the test)", msg)
}

// truthy reports whether an environment value means yes: 1, t, true, y, yes, on (any case).
func truthy(v string) bool {
	v = strings.ToLower(strings.TrimSpace(v))
	if b, err := strconv.ParseBool(v); err == nil {
		return b
	}
	return v == "y" || v == "yes" || v == "on"
}

// service describes a networked backend for reach.
type service struct {
	name       string // "Redis"
	envVar     string // "REDIS_URL"
	defaultURL string // used when envVar is unset or empty
	howToStart string // a command that starts one locally
	probe      func(ctx context.Context, url string) error
	container  *sharedContainer // nil: no container fallback
}

// reach returns the URL of a backend that answers: the env var's value, else the default, else a
// shared container when the env var is unset and Docker answers. When none does it applies the
// absent-backend policy and returns false.
func reach(t testing.TB, s service) (string, bool) {
	t.Helper()
	u, explicit := os.LookupEnv(s.envVar)
	if u == "" {
		u, explicit = s.defaultURL, false
	}
	err := probeWithin(s.probe, u)
	if err == nil {
		return u, true
	}
	why := fmt.Sprintf("%s did not answer at %s (%s): %v", s.name, redact(u), source(s.envVar, explicit), err)
	if explicit {
		Unavailable(t, "%s.\nFix %s or unset it to use the local default %s; start one with: %s",
			why, s.envVar, s.defaultURL, s.howToStart)
		return "", false
	}
	if s.container != nil {
		cu, cerr := s.container.get()
		if cerr == nil {
			if cerr = probeWithin(s.probe, cu); cerr == nil {
				return cu, true
			}
		}
		why += fmt.Sprintf(";\nno container fallback: %v", cerr)
	}
	Unavailable(t, "%s.\nStart one with: %s\nor set %s to a %s that answers, or run a Docker engine.",
		why, s.howToStart, s.envVar, s.name)
	return "", false
}

func probeWithin(probe func(context.Context, string) error, u string) error {
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	return probe(ctx, u)
}

func source(envVar string, explicit bool) string {
	if explicit {
		return "from " + envVar
	}
	return envVar + " unset, local default"
}

var dsnPassword = regexp.MustCompile(`(?i)(password\s*=\s*)('[^']*'|\S+)`)

// redact hides a password in a URL or key=value DSN before it goes into a message.
func redact(s string) string {
	if u, err := url.Parse(s); err == nil && u.Scheme != "" && u.Host != "" {
		return u.Redacted()
	}
	return dsnPassword.ReplaceAllString(s, "${1}xxxxx")
}

// dialAny reports whether a TCP listener answers at any of the host:port addresses.
func dialAny(ctx context.Context, addrs ...string) error {
	var d net.Dialer
	var errs []string
	for _, a := range addrs {
		c, err := d.DialContext(ctx, "tcp", a)
		if err == nil {
			return c.Close()
		}
		errs = append(errs, err.Error())
	}
	return fmt.Errorf("no address answered: %s", strings.Join(errs, "; "))
}

// sharedContainer starts one container per test process, on first use.
type sharedContainer struct {
	start func(ctx context.Context) (url string, err error)

	once sync.Once
	url  string
	err  error
}

func (c *sharedContainer) get() (string, error) {
	c.once.Do(func() {
		// Generous: the first run may pull the image.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		c.url, c.err = c.start(ctx)
	})
	return c.url, c.err
}

var docker struct {
	once sync.Once
	err  error
}

// dockerProbeTimeout bounds the Docker probe, which runs once per process.
const dockerProbeTimeout = 1500 * time.Millisecond

// dockerAnswers reports, once per process, whether a Docker engine answers a ping.
func dockerAnswers() error {
	docker.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), dockerProbeTimeout)
		defer cancel()
		cli, err := testcontainers.NewDockerClientWithOpts(ctx)
		if err != nil {
			docker.err = err
			return
		}
		defer cli.Close()
		_, docker.err = cli.Ping(ctx, client.PingOptions{})
	})
	return docker.err
}

// runContainer starts image with port exposed, waits until the port listens and every ready
// strategy holds, and returns the port's host:port. It terminates a container that did not get ready.
func runContainer(ctx context.Context, image, port string, env map[string]string, ready ...wait.Strategy) (string, error) {
	if err := dockerAnswers(); err != nil {
		return "", fmt.Errorf("no Docker engine answered: %w", err)
	}
	ctr, err := testcontainers.Run(ctx, image,
		testcontainers.WithExposedPorts(port),
		testcontainers.WithEnv(env),
		testcontainers.WithWaitStrategy(append([]wait.Strategy{wait.ForListeningPort(port)}, ready...)...))
	if err != nil {
		if ctr != nil {
			_ = ctr.Terminate(context.Background())
		}
		return "", fmt.Errorf("start %s: %w", image, err)
	}
	hostPort, err := ctr.PortEndpoint(ctx, port, "")
	if err != nil {
		_ = ctr.Terminate(context.Background())
		return "", fmt.Errorf("%s port %s: %w", image, port, err)
	}
	return hostPort, nil
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9]+`)

// slug turns a test name into [A-Za-z0-9_] of at most n bytes.
func slug(name string, n int) string {
	s := strings.Trim(unsafeChars.ReplaceAllString(name, "_"), "_")
	if len(s) > n {
		s = strings.TrimRight(s[:n], "_")
	}
	if s == "" {
		s = "t"
	}
	return s
}

// randomHex returns 2n random hex digits.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}
