package notify

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
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/SherClockHolmes/webpush-go"
	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// device is a browser's push subscription: its key pair and auth secret (RFC 8291).
type device struct {
	priv *ecdh.PrivateKey
	auth []byte
	sub  webpush.Subscription
}

func newDevice(t *testing.T, endpoint string) device {
	t.Helper()
	priv, err := ecdh.P256().GenerateKey(rand.Reader)
	require.NoError(t, err)
	auth := make([]byte, 16)
	_, _ = rand.Read(auth)
	b64 := base64.RawURLEncoding.EncodeToString
	return device{priv: priv, auth: auth, sub: webpush.Subscription{Endpoint: endpoint,
		Keys: webpush.Keys{P256dh: b64(priv.PublicKey().Bytes()), Auth: b64(auth)}}}
}

// decrypt opens an aes128gcm body (RFC 8188 header, RFC 8291 keys) as the browser would.
func (d device) decrypt(body []byte) ([]byte, error) {
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

// pushService is an httptest push service that checks each request like a real one would.
type pushService struct {
	t       *testing.T
	srv     *httptest.Server
	vapid   string // the application server's public key, base64url
	devices map[string]device
	status  map[string]int // path → status to answer (default 201)

	mu  sync.Mutex
	got map[string][]Payload // path → decrypted payloads
}

func newPushService(t *testing.T, vapidPublic string) *pushService {
	p := &pushService{t: t, vapid: vapidPublic, devices: map[string]device{}, status: map[string]int{}, got: map[string][]Payload{}}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *pushService) device(path string, status int) device {
	d := newDevice(p.t, p.srv.URL+path)
	p.devices[path], p.status[path] = d, status
	return d
}

func (p *pushService) serve(w http.ResponseWriter, r *http.Request) {
	t := p.t
	d, ok := p.devices[r.URL.Path]
	if !assert.True(t, ok, "unknown endpoint %s", r.URL.Path) || !assert.Equal(t, http.MethodPost, r.Method) {
		http.Error(w, "no", http.StatusBadRequest)
		return
	}
	assert.Equal(t, "aes128gcm", r.Header.Get("Content-Encoding"))
	assert.Equal(t, "application/octet-stream", r.Header.Get("Content-Type"))
	assert.Equal(t, "3600", r.Header.Get("TTL"))
	assert.NotEmpty(t, r.Header.Get("Topic"))

	// Authorization: vapid t=<ES256 JWT>, k=<public key> (RFC 8292 section 3).
	auth := r.Header.Get("Authorization")
	tok, k, ok := strings.Cut(strings.TrimPrefix(auth, "vapid t="), ", k=")
	if !assert.True(t, ok && strings.HasPrefix(auth, "vapid t="), "Authorization %q", auth) {
		http.Error(w, "no vapid", http.StatusUnauthorized)
		return
	}
	assert.Equal(t, p.vapid, k, "k is the VAPID public key")
	raw, err := base64.RawURLEncoding.DecodeString(k)
	require.NoError(t, err)
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), raw)
	require.NoError(t, err)
	claims := jwt.MapClaims{}
	_, err = jwt.ParseWithClaims(tok, claims, func(*jwt.Token) (any, error) { return pub, nil },
		jwt.WithValidMethods([]string{"ES256"}), jwt.WithAudience(p.srv.URL), jwt.WithExpirationRequired())
	if !assert.NoError(t, err, "the JWT is signed by the VAPID key for this push service") {
		http.Error(w, "bad vapid", http.StatusUnauthorized)
		return
	}
	assert.Equal(t, "mailto:ops@example.com", claims["sub"])

	body, err := io.ReadAll(r.Body)
	require.NoError(t, err)
	plain, err := d.decrypt(body)
	if !assert.NoError(t, err) {
		http.Error(w, "bad payload", http.StatusBadRequest)
		return
	}
	var pl Payload
	require.NoError(t, json.Unmarshal(plain, &pl))
	p.mu.Lock()
	p.got[r.URL.Path] = append(p.got[r.URL.Path], pl)
	p.mu.Unlock()
	w.WriteHeader(p.status[r.URL.Path])
}

func TestWebPushSender(t *testing.T) {
	t.Parallel()
	priv, pub, err := webpush.GenerateVAPIDKeys()
	require.NoError(t, err)
	ps := newPushService(t, pub)
	phone, laptop, old := ps.device("/push/phone", http.StatusCreated), ps.device("/push/laptop", http.StatusCreated),
		ps.device("/push/old", http.StatusGone)
	other := ps.device("/push/other", http.StatusCreated)

	subs := NewMemorySubscriptions()
	for _, d := range []device{phone, laptop, old} {
		require.NoError(t, subs.Add(t.Context(), 7, d.sub))
	}
	require.NoError(t, subs.Add(t.Context(), 8, other.sub))
	s, err := NewWebPushSender(WebPushOptions{Subscriptions: subs, VAPIDPublicKey: pub, VAPIDPrivateKey: priv,
		Subject: "mailto:ops@example.com", Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)

	j := Job{ID: "1-0", UserID: 7, ConversationID: 42, SenderID: 1, Seq: 3, Preview: "lunch?"}
	require.NoError(t, s.Send(t.Context(), j), "a 410 is not a failure")
	want := Payload{Title: "New messages", Body: "lunch?", ConversationID: "42", Seq: 3}
	ps.mu.Lock()
	assert.Equal(t, []Payload{want}, ps.got["/push/phone"])
	assert.Equal(t, []Payload{want}, ps.got["/push/laptop"])
	assert.Len(t, ps.got["/push/old"], 1)
	assert.Empty(t, ps.got["/push/other"], "only the job's user")
	ps.mu.Unlock()

	left, err := subs.Subscriptions(t.Context(), 7)
	require.NoError(t, err)
	assert.ElementsMatch(t, []webpush.Subscription{phone.sub, laptop.sub}, left, "410 Gone removed the subscription")

	t.Run("a push service error is retried", func(t *testing.T) {
		ps.status["/push/phone"] = http.StatusServiceUnavailable
		err := s.Send(t.Context(), j)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "status 503")
		left, _ := subs.Subscriptions(t.Context(), 7)
		assert.Len(t, left, 2, "kept")
	})
	t.Run("no subscription is nothing to do", func(t *testing.T) {
		assert.NoError(t, s.Send(t.Context(), Job{UserID: 99}))
	})
	t.Run("keys are required", func(t *testing.T) {
		_, err := NewWebPushSender(WebPushOptions{Subscriptions: subs, VAPIDPublicKey: pub, Subject: "mailto:x@y"})
		assert.Error(t, err)
	})
}
