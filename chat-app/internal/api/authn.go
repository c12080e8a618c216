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
	if a.limiter == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok, wait := a.limiter.allow(httpx.ClientIP(r))
		if !ok {
			secs := int64((wait + time.Second - 1) / time.Second)
			w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
			httpx.WriteProblem(w, r, httpx.NewProblem(http.StatusTooManyRequests,
				fmt.Sprintf("too many signup or login attempts from this address; retry in %d s", secs)).With("retry_after_ms", wait.Milliseconds()))
			return
		}
		next.ServeHTTP(w, r)
	})
}
