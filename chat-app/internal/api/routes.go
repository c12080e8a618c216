package api

import (
	"errors"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/auth"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/chat"
	"github.com/hyperscaledesignhub/DesignSystems/shared/httpx"
)

// Routes lists every route of the API (health, readiness and metrics come from httpx). Signup and
// login are public and rate limited per client IP, the VAPID public key is public; everything
// else needs a bearer token. Sends are rate limited per user (by the send use case).
func (a *API) Routes(r chi.Router) {
	r.With(a.limitLogins).Post("/v1/signup", a.signup)
	r.With(a.limitLogins).Post("/v1/login", a.login)
	r.Get("/v1/push/key", a.pushKey)

	r.Group(func(r chi.Router) {
		r.Use(a.authenticate)
		r.Get("/v1/me", a.me)

		r.Get("/v1/contacts", a.contacts)
		r.Post("/v1/contacts", a.addContact)

		r.Get("/v1/conversations", a.conversations)
		r.Post("/v1/conversations/direct", a.direct)
		r.Post("/v1/conversations/group", a.group)
		r.Get("/v1/conversations/{id}/members", a.members)
		r.Post("/v1/conversations/{id}/members", a.addMember)
		r.Delete("/v1/conversations/{id}/members/{user_id}", a.removeMember)
		r.Get("/v1/conversations/{id}/messages", a.history)
		r.Post("/v1/conversations/{id}/messages", a.send)

		r.Post("/v1/push/subscriptions", a.subscribePush)
		r.Delete("/v1/push/subscriptions", a.unsubscribePush)
	})
}

// fail is the one place an error becomes a response: domain errors map to their status with the
// store's wording as detail; problems pass through; anything else is a logged 500.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := 0
	switch {
	case errors.Is(err, chat.ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, chat.ErrExists):
		status = http.StatusConflict
	case errors.Is(err, chat.ErrNotMember), errors.Is(err, chat.ErrForbidden):
		status = http.StatusForbidden
	case errors.Is(err, chat.ErrInvalid), errors.Is(err, auth.ErrWeakPassword):
		status = http.StatusBadRequest
	}
	if status != 0 {
		httpx.WriteProblem(w, r, httpx.NewProblem(status, err.Error()))
		return
	}
	httpx.WriteError(w, r, a.log, err)
}
