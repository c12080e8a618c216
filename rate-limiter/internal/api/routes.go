package api

import (
	"errors"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/limit"
	"github.com/hyperscaledesignhub/DesignSystems/shared/httpx"
)

// Routes lists every HTTP route of the limiter (health, readiness and metrics come from httpx).
func (h *HTTP) Routes(r chi.Router) {
	r.Post("/v1/check", h.check)
	r.Post("/v1/release", h.release)
	r.Get("/v1/rules", h.rules)
}

// asProblem maps engine errors to HTTP problems: invalid input is the caller's (400).
func asProblem(err error) error {
	if errors.Is(err, limit.ErrInvalid) {
		return httpx.NewProblem(http.StatusBadRequest, err.Error())
	}
	return err
}
