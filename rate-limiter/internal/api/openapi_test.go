package api

import (
	"io"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/client"
	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/rules"
	"github.com/hyperscaledesignhub/DesignSystems/shared/httpx"
	"github.com/hyperscaledesignhub/DesignSystems/shared/testkit"
)

// The OpenAPI document must list exactly the routes the server serves and exactly the JSON
// fields of the Go wire types, so it cannot drift from the code.
func TestOpenAPIMatchesCode(t *testing.T) {
	srv, err := httpx.New(httpx.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	(&HTTP{}).Routes(srv.Router())
	testkit.CheckOpenAPI(t, testkit.OpenAPI{Spec: "../../docs/openapi.yaml", Routes: srv.Router(), Schemas: map[string]any{
		"Entry": client.Entry{}, "Descriptor": client.Descriptor{}, "CheckRequest": client.CheckRequest{},
		"CheckResponse": client.CheckResponse{}, "Result": client.Result{}, "ReleaseRequest": client.ReleaseRequest{},
		"RulesResponse": rulesResponse{}, "RulesStatus": rules.Status{}, "RuleInfo": rules.RuleInfo{}, "Problem": httpx.Problem{},
	}})
}
