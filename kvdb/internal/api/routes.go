package api

import (
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/hyperscaledesignhub/DesignSystems/shared/httpx"
)

// Register mounts the routes on srv and adds the store's readiness check to /readyz: not ready
// once the engine has turned read-only after a background failure.
func (h *HTTP) Register(srv *httpx.Server) {
	h.Routes(srv.Router())
	srv.AddCheck("engine", time.Second, h.Store.Ready)
}

// Routes lists every HTTP route of the store (/healthz, /readyz and /metrics come from httpx).
// {key} is everything after /v1/kv/, so keys may contain slashes.
func (h *HTTP) Routes(r chi.Router) {
	r.Get("/v1/kv", h.scan)
	r.Get("/v1/kv/*", h.get)
	r.Head("/v1/kv/*", h.get)
	r.Put("/v1/kv/*", h.put)
	r.Delete("/v1/kv/*", h.delete)
	r.Post("/v1/batch", h.batch)
}
