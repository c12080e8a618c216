package chat_test

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/chat"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/chat/chattest"
)

func TestValidatePushSubscription(t *testing.T) {
	t.Parallel()
	ok := chattest.NewPushSubscription(t, 1, "https://fcm.googleapis.com/fcm/send/abc:def")
	b64 := base64.RawURLEncoding.EncodeToString
	key, _ := base64.RawURLEncoding.DecodeString(ok.P256dh)
	offCurve := bytes.Clone(key)
	offCurve[64] ^= 1
	compressed := append([]byte{0x02}, key[1:33]...)

	tests := []struct {
		name  string
		mut   func(*chat.PushSubscription)
		valid bool
	}{
		{"as a browser sends it", func(*chat.PushSubscription) {}, true},
		{"padded keys", func(s *chat.PushSubscription) { s.P256dh += "="; s.Auth += "==" }, true},
		{"http on 127.0.0.1", func(s *chat.PushSubscription) { s.Endpoint = "http://127.0.0.1:4567/push/1" }, true},
		{"http on localhost", func(s *chat.PushSubscription) { s.Endpoint = "http://localhost/push/1" }, true},
		{"endpoint of exactly the limit", func(s *chat.PushSubscription) {
			s.Endpoint = "https://p.example/" + strings.Repeat("x", chat.MaxPushEndpointBytes-len("https://p.example/"))
		}, true},

		{"no endpoint", func(s *chat.PushSubscription) { s.Endpoint = "" }, false},
		{"endpoint one byte over", func(s *chat.PushSubscription) {
			s.Endpoint = "https://p.example/" + strings.Repeat("x", chat.MaxPushEndpointBytes-len("https://p.example/")+1)
		}, false},
		{"http elsewhere", func(s *chat.PushSubscription) { s.Endpoint = "http://push.example.com/x" }, false},
		{"http on a look-alike host", func(s *chat.PushSubscription) { s.Endpoint = "http://127.0.0.1.example.com/x" }, false},
		{"another scheme", func(s *chat.PushSubscription) { s.Endpoint = "ftp://push.example.com/x" }, false},
		{"relative", func(s *chat.PushSubscription) { s.Endpoint = "/push/x" }, false},
		{"no host", func(s *chat.PushSubscription) { s.Endpoint = "https:///x" }, false},
		{"opaque", func(s *chat.PushSubscription) { s.Endpoint = "https:push.example.com" }, false},
		{"user information", func(s *chat.PushSubscription) { s.Endpoint = "https://u:p@push.example.com/x" }, false},
		{"not a URL", func(s *chat.PushSubscription) { s.Endpoint = "https://push example.com/%zz" }, false},
		{"auth in standard base64", func(s *chat.PushSubscription) {
			s.Auth = base64.RawStdEncoding.EncodeToString(append(bytes.Repeat([]byte{0xfb, 0xef, 0xbe}, 5), 0xff)) // "++++…"
		}, false},
		{"p256dh compressed", func(s *chat.PushSubscription) { s.P256dh = b64(compressed) }, false},
		{"p256dh off the curve", func(s *chat.PushSubscription) { s.P256dh = b64(offCurve) }, false},
		{"p256dh without the 0x04 prefix", func(s *chat.PushSubscription) { s.P256dh = b64(append([]byte{0x05}, key[1:]...)) }, false},
		{"auth of 15 bytes", func(s *chat.PushSubscription) { s.Auth = b64(make([]byte, 15)) }, false},
		{"auth of 17 bytes", func(s *chat.PushSubscription) { s.Auth = b64(make([]byte, 17)) }, false},
		{"auth not base64url", func(s *chat.PushSubscription) { s.Auth = "!!!" }, false},
		{"wrong padding", func(s *chat.PushSubscription) { s.Auth += "=" }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := ok
			tc.mut(&s)
			err := chat.ValidatePushSubscription(s)
			if tc.valid {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, chat.ErrInvalid)
			}
		})
	}
}
