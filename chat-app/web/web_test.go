package web_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/web"
)

func TestHandler(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(web.Handler(web.Options{WSURL: "wss://chat.example.com/v1/ws?a=<b>"}))
	t.Cleanup(srv.Close)

	tests := []struct {
		path, contentType, contains string
		status                      int
	}{
		{"/", "text/html; charset=utf-8", `<script src="/app.js"`, http.StatusOK},
		{"/index.html", "text/html; charset=utf-8", `id="message-input"`, http.StatusOK},
		{"/app.js", "text/javascript; charset=utf-8", "crypto.randomUUID", http.StatusOK},
		{"/style.css", "text/css; charset=utf-8", "#messages", http.StatusOK},
		{"/sw.js", "text/javascript; charset=utf-8", "showNotification", http.StatusOK},
		{"/config.js", "text/javascript; charset=utf-8", `window.CHAT_CONFIG = {"wsUrl":"wss://chat.example.com/v1/ws?a=\u003cb\u003e"};`, http.StatusOK},
		{"/static/app.js", "", "", http.StatusNotFound},
		{"/nope", "", "", http.StatusNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			t.Parallel()
			res, err := http.Get(srv.URL + tc.path)
			require.NoError(t, err)
			defer res.Body.Close()
			b, err := io.ReadAll(res.Body)
			require.NoError(t, err)
			require.Equal(t, tc.status, res.StatusCode)
			if tc.status != http.StatusOK {
				return
			}
			assert.Equal(t, tc.contentType, res.Header.Get("Content-Type"))
			assert.Equal(t, "no-cache", res.Header.Get("Cache-Control"))
			assert.Equal(t, "nosniff", res.Header.Get("X-Content-Type-Options"))
			assert.Contains(t, string(b), tc.contains)

			// Revalidation with the ETag is a 304 without a body.
			req, err := http.NewRequest(http.MethodGet, srv.URL+tc.path, nil)
			require.NoError(t, err)
			req.Header.Set("If-None-Match", res.Header.Get("ETag"))
			res2, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			res2.Body.Close()
			assert.Equal(t, http.StatusNotModified, res2.StatusCode)
		})
	}
}

func TestHandlerSameOriginDefault(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	web.Handler(web.Options{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/config.js", nil))
	assert.Equal(t, `window.CHAT_CONFIG = {"wsUrl":""};`, strings.TrimSpace(rec.Body.String()))
}

func TestHandlerRejectsWrites(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	web.Handler(web.Options{}).ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", nil))
	assert.Equal(t, http.StatusMethodNotAllowed, rec.Code)
	assert.Equal(t, "GET, HEAD", rec.Header().Get("Allow"))
}
