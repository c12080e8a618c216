// Package web serves chat-app's browser client: a dependency-free HTML/CSS/JS app, embedded in
// the binary, that signs up or logs in over the HTTP API and speaks the WebSocket protocol
// (docs/protocol.md) with exactly-once sync, idempotent retried sends, receipts, typing and
// presence, plus a service worker (sw.js) that shows Web Push notifications.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"time"
)

//go:embed static
var static embed.FS

// Options configure the client.
type Options struct {
	// WSURL is the gateway's WebSocket URL, e.g. "wss://chat.example.com/v1/ws". Empty: the
	// same origin's /ws (ws:// or wss:// following the page).
	WSURL string
}

// asset is one file served from memory with a strong ETag, so revalidation is a cheap 304.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

func newAsset(body []byte, contentType string) asset {
	sum := sha256.Sum256(body)
	return asset{body: body, contentType: contentType, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
}

// Handler serves the client at / (index.html, app.js, style.css, sw.js) and /config.js, which sets
// window.CHAT_CONFIG = {wsUrl}. Everything else is 404. Files are revalidated on every load
// (Cache-Control: no-cache with an ETag): their names carry no content hash, so a deploy must
// never leave a browser running an old app.js against a new index.html.
func Handler(o Options) http.Handler {
	cfg, err := json.Marshal(map[string]string{"wsUrl": o.WSURL}) // escapes <, > and & too
	if err != nil {
		panic(fmt.Sprintf("web: encode config: %v", err)) // a map of strings always encodes
	}
	assets := map[string]asset{
		"/config.js": newAsset([]byte("window.CHAT_CONFIG = "+string(cfg)+";\n"), "text/javascript; charset=utf-8"),
	}
	for name, ct := range map[string]string{
		"index.html": "text/html; charset=utf-8",
		"app.js":     "text/javascript; charset=utf-8",
		"style.css":  "text/css; charset=utf-8",
		// At the root so its scope is the whole app, as PushManager needs.
		"sw.js": "text/javascript; charset=utf-8",
	} {
		b, err := fs.ReadFile(static, "static/"+name)
		if err != nil {
			panic(fmt.Sprintf("web: embedded %s: %v", name, err)) // caught by the package's tests
		}
		assets["/"+name] = newAsset(b, ct)
	}
	assets["/"] = assets["/index.html"]
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := assets[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Type", a.contentType)
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", a.etag)
		h.Set("X-Content-Type-Options", "nosniff")
		if a.contentType == "text/html; charset=utf-8" {
			// Only our own scripts, styles and the API/WebSocket endpoints; no inline script.
			h.Set("Content-Security-Policy", "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; frame-ancestors 'none'")
			h.Set("Referrer-Policy", "no-referrer")
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
	})
}
