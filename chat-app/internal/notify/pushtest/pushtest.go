// Package pushtest is a fake Web Push service for tests: an httptest server that checks every
// request as a real push service would — a VAPID token (RFC 8292: an ES256 JWT for this origin,
// signed by the application server's key, with its contact) and an aes128gcm body (RFC 8188)
// encrypted for the subscription (RFC 8291) — and decrypts the payload as the browser would, so a
// test sees exactly what a service worker would receive.
package pushtest

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Service is the fake push service. Register a browser with Device, point the sender at the
// endpoint it returns, and read what arrived with Pushes.
type Service struct {
	t       testing.TB
	srv     *httptest.Server
	vapid   string // the application server's public key, base64url
	subject string // the contact the VAPID token must carry

	mu      sync.Mutex
	devices map[string]Device // by path
	status  map[string]int    // path → status to answer
	got     map[string][]Push // path → deliveries
}

// Device is a browser's subscription at the service: what PushSubscription.toJSON() gives, and
// the private key and secret the browser decrypts with.
type Device struct {
	Endpoint string
	P256dh   string // base64url, unpadded
	Auth     string // base64url, unpadded
	priv     *ecdh.PrivateKey
	auth     []byte
}

// Push is one request the service accepted as well formed, with its decrypted payload.
type Push struct {
	TTL, Topic, Urgency string // the request's headers
	Payload             []byte
}

// New starts a push service that accepts tokens of the VAPID key vapidPublicKey (base64url)
// carrying subject ("mailto:ops@example.com"); it stops at the end of the test.
func New(t testing.TB, vapidPublicKey, subject string) *Service {
	t.Helper()
	s := &Service{t: t, vapid: vapidPublicKey, subject: subject,
		devices: map[string]Device{}, status: map[string]int{}, got: map[string][]Push{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the service's origin (http://127.0.0.1:port).
func (s *Service) URL() string { return s.srv.URL }

// Device makes a browser subscribed at path (its endpoint is URL()+path) whose pushes are answered
// with status (201 Created for a live subscription, 404 or 410 for one that expired).
func (s *Service) Device(path string, status int) Device {
	s.t.Helper()
	priv, err := ecdh.P256().GenerateKey(rand.Reader)
	require.NoError(s.t, err)
	auth := make([]byte, 16)
	_, _ = rand.Read(auth)
	b64 := base64.RawURLEncoding.EncodeToString
	d := Device{Endpoint: s.srv.URL + path, P256dh: b64(priv.PublicKey().Bytes()), Auth: b64(auth), priv: priv, auth: auth}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.devices[path], s.status[path] = d, status
	return d
}

// SetStatus changes what the service answers for path's pushes.
func (s *Service) SetStatus(path string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status[path] = status
}

// Pushes are the well-formed requests path received, in order (also those answered 404/410/5xx).
func (s *Service) Pushes(path string) []Push {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Push(nil), s.got[path]...)
}

func (s *Service) serve(w http.ResponseWriter, r *http.Request) {
	t := s.t
	s.mu.Lock()
	d, ok := s.devices[r.URL.Path]
	s.mu.Unlock()
	if !assert.True(t, ok, "push to an unknown endpoint %s", r.URL.Path) || !assert.Equal(t, http.MethodPost, r.Method) {
		http.Error(w, "no such subscription", http.StatusNotFound)
		return
	}
	if !assert.Equal(t, "aes128gcm", r.Header.Get("Content-Encoding")) ||
		!assert.Equal(t, "application/octet-stream", r.Header.Get("Content-Type")) ||
		!assert.NotEmpty(t, r.Header.Get("TTL"), "TTL is required (RFC 8030 §5.2)") {
		http.Error(w, "bad headers", http.StatusBadRequest)
		return
	}
	if err := s.checkVAPID(r.Header.Get("Authorization")); !assert.NoError(t, err) {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	body, err := io.ReadAll(r.Body)
	if !assert.NoError(t, err) {
		http.Error(w, "read", http.StatusBadRequest)
		return
	}
	plain, err := d.decrypt(body)
	if !assert.NoError(t, err, "the payload decrypts with the subscription's keys") {
		http.Error(w, "bad payload", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.got[r.URL.Path] = append(s.got[r.URL.Path], Push{TTL: r.Header.Get("TTL"), Topic: r.Header.Get("Topic"),
		Urgency: r.Header.Get("Urgency"), Payload: plain})
	status := s.status[r.URL.Path]
	s.mu.Unlock()
	w.WriteHeader(status)
}

// checkVAPID checks "Authorization: vapid t=<ES256 JWT>, k=<public key>" (RFC 8292 §3).
func (s *Service) checkVAPID(auth string) error {
	tok, k, ok := strings.Cut(strings.TrimPrefix(auth, "vapid t="), ", k=")
	if !ok || !strings.HasPrefix(auth, "vapid t=") {
		return fmt.Errorf("authorization %q is not a VAPID token", auth)
	}
	if k != s.vapid {
		return fmt.Errorf("k=%s is not the application server's key %s", k, s.vapid)
	}
	raw, err := base64.RawURLEncoding.DecodeString(k)
	if err != nil {
		return fmt.Errorf("k: %w", err)
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), raw)
	if err != nil {
		return fmt.Errorf("k: %w", err)
	}
	claims := jwt.MapClaims{}
	if _, err := jwt.ParseWithClaims(tok, claims, func(*jwt.Token) (any, error) { return pub, nil },
		jwt.WithValidMethods([]string{"ES256"}), jwt.WithAudience(s.srv.URL), jwt.WithExpirationRequired()); err != nil {
		return fmt.Errorf("the token is not signed by the VAPID key for this push service: %w", err)
	}
	if claims["sub"] != s.subject {
		return fmt.Errorf("sub %v, want %s", claims["sub"], s.subject)
	}
	return nil
}

// decrypt opens an aes128gcm body (RFC 8188 header, RFC 8291 keys) as the browser would.
func (d Device) decrypt(body []byte) ([]byte, error) {
	if len(body) < 21 {
		return nil, errors.New("short body")
	}
	salt, idlen := body[:16], int(body[20])
	rs := binary.BigEndian.Uint32(body[16:20])
	if rs < 18 || len(body) < 21+idlen {
		return nil, fmt.Errorf("bad header: rs %d idlen %d", rs, idlen)
	}
	asPub, ct := body[21:21+idlen], body[21+idlen:]
	pub, err := ecdh.P256().NewPublicKey(asPub)
	if err != nil {
		return nil, fmt.Errorf("keyid is not the sender's public key: %w", err)
	}
	secret, err := d.priv.ECDH(pub)
	if err != nil {
		return nil, err
	}
	info := append(append([]byte("WebPush: info\x00"), d.priv.PublicKey().Bytes()...), asPub...)
	ikm, err := hkdf.Key(sha256.New, secret, d.auth, string(info), 32)
	if err != nil {
		return nil, err
	}
	cek, _ := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: aes128gcm\x00", 16)
	nonce, _ := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: nonce\x00", 12)
	block, _ := aes.NewCipher(cek)
	gcm, _ := cipher.NewGCM(block)
	plain, err := gcm.Open(nil, nonce, ct, nil)
	if err != nil {
		return nil, fmt.Errorf("decrypt: %w", err)
	}
	end := len(plain) - 1
	for end >= 0 && plain[end] == 0 {
		end--
	}
	if end < 0 || plain[end] != 2 { // the delimiter of the last record
		return nil, errors.New("no last-record delimiter")
	}
	return plain[:end], nil
}
