package api

import (
	"io"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/shared/httpx"
	"github.com/hyperscaledesignhub/DesignSystems/shared/testkit"
)

// The OpenAPI document must list exactly the routes the server serves and exactly the JSON
// fields of the wire types, so it cannot drift from the code.
func TestOpenAPIMatchesCode(t *testing.T) {
	srv, err := httpx.New(httpx.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	(&HTTP{}).Routes(srv.Router())
	testkit.CheckOpenAPI(t, testkit.OpenAPI{Spec: "../../docs/openapi.yaml", Routes: srv.Router(),
		Rename: map[string]string{"/v1/kv/*": "/v1/kv/{key}"}, // the key is a catch-all: it may hold slashes
		Schemas: map[string]any{
			"Item": Item{}, "ScanResponse": ScanResponse{}, "BatchOp": BatchOp{}, "BatchRequest": BatchRequest{},
			"BatchResponse": BatchResponse{}, "Problem": httpx.Problem{},
		}})
}
