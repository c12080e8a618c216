package app

import (
	"errors"
	"fmt"
	"time"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/auth"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/snowflake"
)

// The settings of the chat commands, from the environment (shared/config). Each command's Config
// embeds Common and the parts it serves: chat all three, chat-api Common and APIConfig,
// chat-gateway Common and GatewayConfig. The defaults run with no external service.

// Common are the settings of every chat server process.
type Common struct {
	DatabaseURL string `env:"DATABASE_URL"` // empty: in-memory store
	RedisURL    string `env:"REDIS_URL"`    // empty: in-memory bus and presence (one replica)
	KeyPrefix   string `env:"KEY_PREFIX"`   // before every Redis key and channel; the same for every process (and chat-notifier)
	// JWTSecret signs and verifies tokens (HS256, at least 32 bytes), the same for every API
	// replica and gateway. Empty: a random one per start, so tokens do not survive a restart.
	JWTSecret string `env:"JWT_SECRET"`
	NodeID    int    `env:"NODE_ID" envDefault:"0"` // snowflake node, unique per replica
	// SendRate and SendBurst are each user's budget of sends, edits and deletes per process,
	// over WebSockets and HTTP together (chat.DefaultSendRate, chat.DefaultSendBurst).
	SendRate        float64       `env:"SEND_RATE" envDefault:"10"`
	SendBurst       int           `env:"SEND_BURST" envDefault:"30"`
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"20s"`
}

// Check checks what the types cannot. secretRequired: the process shares tokens with others,
// so with DATABASE_URL (data that outlives it) a random secret would be a mistake.
func (c *Common) Check(secretRequired bool) error {
	switch {
	case secretRequired && c.DatabaseURL != "" && c.JWTSecret == "":
		return errors.New("JWT_SECRET is required with DATABASE_URL (at least 32 bytes, the same for every API replica and gateway), so tokens survive restarts")
	case c.JWTSecret != "" && len(c.JWTSecret) < auth.MinSecretBytes:
		return fmt.Errorf("JWT_SECRET must be at least %d bytes", auth.MinSecretBytes)
	case c.NodeID < 0 || c.NodeID > snowflake.MaxNode:
		return fmt.Errorf("NODE_ID must be in 0..%d", snowflake.MaxNode)
	case c.SendRate <= 0 || c.SendBurst < 1:
		return errors.New("SEND_RATE must be > 0 and SEND_BURST >= 1")
	}
	return nil
}

// Options are the app.Options of c; secret is the key to sign with (see Secret).
func (c *Common) Options(secret []byte) Options {
	return Options{DatabaseURL: c.DatabaseURL, RedisURL: c.RedisURL, KeyPrefix: c.KeyPrefix, Secret: secret,
		NodeID: c.NodeID, SendRate: c.SendRate, SendBurst: c.SendBurst}
}

// APIConfig are the settings of a process that serves the HTTP API.
type APIConfig struct {
	TokenTTL       time.Duration `env:"TOKEN_TTL" envDefault:"24h"`
	LoginPerMinute float64       `env:"LOGIN_PER_MINUTE" envDefault:"30"` // signups and logins per client IP; 0 disables
	LoginBurst     int           `env:"LOGIN_BURST" envDefault:"10"`
	TrustedProxies []string      `env:"TRUSTED_PROXIES"` // CIDRs whose X-Forwarded-For names the client
	// VAPIDPublicKey is the Web Push application server key (base64url) browsers subscribe with
	// (GET /v1/push/key): chat-notifier's VAPID_PUBLIC_KEY, next to its private key. Empty: push is off.
	VAPIDPublicKey string `env:"VAPID_PUBLIC_KEY"`
	// PushHosts are the push services a browser's subscription may point at (host names, or
	// "*.domain"); empty: FCM, Mozilla, Apple and Windows (chat.DefaultPushHosts).
	PushHosts []string `env:"PUSH_HOSTS"`
}

// Check checks what the types cannot.
func (c *APIConfig) Check() error {
	switch {
	case c.TokenTTL < time.Minute:
		return errors.New("TOKEN_TTL must be at least 1m")
	case c.LoginPerMinute < 0 || c.LoginBurst < 1:
		return errors.New("LOGIN_PER_MINUTE must be >= 0 and LOGIN_BURST >= 1")
	}
	return nil
}

// Apply sets the API's part of o: the API on, its migrations owned here, and its settings.
func (c *APIConfig) Apply(o *Options) {
	o.API, o.Migrate = true, true
	o.TokenTTL, o.LoginPerMinute, o.LoginBurst = c.TokenTTL, c.LoginPerMinute, c.LoginBurst
	if c.LoginPerMinute == 0 {
		o.LoginPerMinute = -1 // api.Options: negative disables
	}
	o.VAPIDPublicKey, o.PushHosts = c.VAPIDPublicKey, c.PushHosts
}

// GatewayConfig are the settings of a process that serves the WebSocket gateway.
type GatewayConfig struct {
	// AllowedOrigins are the browser origins allowed on /ws besides the page's own (host
	// patterns, e.g. chat.example.com or *.example.com).
	AllowedOrigins []string `env:"ALLOWED_ORIGINS"`
	// PresenceGroupLimit is the largest conversation whose members get each other's presence
	// changes pushed; members of larger ones ask with presence_query (docs/adr/0007).
	PresenceGroupLimit int `env:"PRESENCE_GROUP_LIMIT" envDefault:"100"`
	// MaxSessionsPerUser caps one user's WebSocket sessions per gateway process; one more
	// closes the oldest with 4009.
	MaxSessionsPerUser int `env:"MAX_SESSIONS_PER_USER" envDefault:"20"`
}

// Check checks what the types cannot.
func (c *GatewayConfig) Check() error {
	switch {
	case c.PresenceGroupLimit < 2:
		return errors.New("PRESENCE_GROUP_LIMIT must be at least 2 (a direct conversation)")
	case c.MaxSessionsPerUser < 1:
		return errors.New("MAX_SESSIONS_PER_USER must be at least 1")
	}
	return nil
}

// Apply sets the gateway's part of o.
func (c *GatewayConfig) Apply(o *Options) {
	o.Gateway, o.AllowedOrigins = true, c.AllowedOrigins
	o.PresenceGroupLimit, o.MaxSessionsPerUser = c.PresenceGroupLimit, c.MaxSessionsPerUser
}
