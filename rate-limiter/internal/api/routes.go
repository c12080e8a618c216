package api

import (
	"errors"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/limit"
	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/service"
	"github.com/hyperscaledesignhub/DesignSystems/shared/httpx"
)

// Routes lists every HTTP route of the limiter (health, readiness and metrics come from httpx).
func (h *HTTP) Routes(r chi.Router) {
	r.Post("/v1/check", h.check)
	r.Post("/v1/release", h.release)
	r.Get("/v1/rules", h.rules)
}

// checkFailed answers a check the engine could not decide: invalid input is the caller's (400);
// an overloaded limiter, a store down under a rule whose failure mode is error, and a request
// that ended before the store answered are 503 with Retry-After. Those come in floods under
// overload and outages, which metrics count, so they are not logged one by one.
func (h *HTTP) checkFailed(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, limit.ErrInvalid):
		httpx.WriteProblem(w, r, httpx.NewProblem(http.StatusBadRequest, err.Error()))
	case errors.Is(err, limit.ErrOverloaded), errors.Is(err, service.ErrUnavailable), r.Context().Err() != nil:
		w.Header().Set("Retry-After", "1")
		httpx.WriteProblem(w, r, httpx.NewProblem(http.StatusServiceUnavailable, err.Error()))
	default:
		httpx.WriteError(w, r, h.Logger, err)
	}
}
