package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/auth"
	"github.com/hyperscaledesignhub/DesignSystems/shared/httpx"
)

type userKey struct{}

// userID is the authenticated caller; authenticate put it in the context.
func userID(r *http.Request) int64 { return r.Context().Value(userKey{}).(int64) }

// authenticate admits requests with a valid "Authorization: Bearer <token>" and answers the rest
// with 401 and a WWW-Authenticate challenge (RFC 6750 §3), so clients can tell a missing token
// from an invalid or expired one.
func (a *API) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
			unauthorized(w, r, `Bearer realm="chat"`, "a bearer token is required: Authorization: Bearer <token>")
			return
		}
		user, _, err := a.tokens.Verify(strings.TrimSpace(token))
		switch {
		case errors.Is(err, auth.ErrExpired):
			unauthorized(w, r, `Bearer realm="chat", error="invalid_token", error_description="the token expired"`, "the token expired; log in again")
			return
		case err != nil:
			unauthorized(w, r, `Bearer realm="chat", error="invalid_token", error_description="the token is invalid"`, "the token is invalid")
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, user)))
	})
}

func unauthorized(w http.ResponseWriter, r *http.Request, challenge, detail string) {
	w.Header().Set("WWW-Authenticate", challenge)
	httpx.WriteProblem(w, r, httpx.NewProblem(http.StatusUnauthorized, detail))
}

// limitLogins applies the per-IP budget of signup and login attempts (429 with Retry-After).
func (a *API) limitLogins(next http.Handler) http.Handler {
	if a.logins == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ok, wait := a.logins.Allow(httpx.ClientIP(r)); !ok {
			tooMany(w, r, wait, "too many signup or login attempts from this address")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// tooMany answers 429 with Retry-After in whole seconds and the exact wait as retry_after_ms.
func tooMany(w http.ResponseWriter, r *http.Request, wait time.Duration, what string) {
	secs := int64((wait + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	httpx.WriteProblem(w, r, httpx.NewProblem(http.StatusTooManyRequests,
		fmt.Sprintf("%s; retry in %d s", what, secs)).With("retry_after_ms", wait.Milliseconds()))
}
