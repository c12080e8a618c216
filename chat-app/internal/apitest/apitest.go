// Package apitest calls the chat API over real HTTP from tests: JSON in and out, a bearer token,
// and the status the test insists on, so that tests in many packages speak to the API one way.
package apitest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/api"
)

// Timeout bounds each request, so that a server that hangs fails the test with the request named
// rather than the whole binary at go test's -timeout. It is generous because a loaded 2-core
// machine runs the suites under -race; no test asserts how fast an answer comes.
const Timeout = 30 * time.Second

// Call sends in to url with method (see Do) and fails t, naming method, url and the answer's
// body, unless the status is want; then it decodes the answer into out when out is not nil. It
// returns the raw body.
func Call(t testing.TB, method, url, token string, in, out any, want int) []byte {
	t.Helper()
	res, b := Do(t, method, url, token, in)
	require.Equalf(t, want, res.StatusCode, "%s %s: %s", method, url, b)
	if out != nil {
		require.NoError(t, json.Unmarshal(b, out), "%s %s: %s", method, url, b)
	}
	return b
}

// Do sends in to url with method: nil sends no body, a string is sent as is (for bodies a test
// writes by hand, even malformed ones), anything else as JSON; token, when not empty, goes as
// "Authorization: Bearer". It returns the answer (its body closed) and the body read.
func Do(t testing.TB, method, url, token string, in any) (*http.Response, []byte) {
	t.Helper()
	var body io.Reader
	switch v := in.(type) {
	case nil:
	case string:
		body = strings.NewReader(v)
	default:
		b, err := json.Marshal(v)
		require.NoError(t, err, "%s %s", method, url)
		body = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(t.Context(), Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	require.NoError(t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err, "%s %s", method, url)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err, "%s %s", method, url)
	return res, b
}

// Signup signs up username with password at the API at base (no display name) and returns the
// API's answer: the user, with its ID, and the bearer token for the API and the gateway.
func Signup(t testing.TB, base, username, password string) api.AuthResponse {
	t.Helper()
	var ar api.AuthResponse
	Call(t, http.MethodPost, base+"/v1/signup", "", api.SignupRequest{Username: username, Password: password}, &ar, http.StatusCreated)
	return ar
}
