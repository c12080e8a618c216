package api

import (
	"io"
	"log/slog"
	"net/http"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/hyperscaledesignhub/DesignSystems/shared/httpx"
)

type openAPI struct {
	Paths      map[string]map[string]any `yaml:"paths"`
	Components struct {
		Schemas map[string]struct {
			Properties map[string]any `yaml:"properties"`
		} `yaml:"schemas"`
	} `yaml:"components"`
}

// The OpenAPI document must list exactly the routes the server serves and exactly the JSON
// fields of the wire types, so it cannot drift from the code.
func TestOpenAPIMatchesCode(t *testing.T) {
	b, err := os.ReadFile("../../docs/openapi.yaml")
	require.NoError(t, err)
	var doc openAPI
	require.NoError(t, yaml.Unmarshal(b, &doc))

	srv, err := httpx.New(httpx.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	(&HTTP{}).Routes(srv.Router())
	var served, documented []string
	require.NoError(t, chi.Walk(srv.Router(), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if strings.HasPrefix(route, "/v1/") {
			// The key is chi's catch-all "*" (keys may hold slashes); OpenAPI calls it {key}.
			served = append(served, method+" "+strings.Replace(route, "/*", "/{key}", 1))
		}
		return nil
	}))
	for path, ops := range doc.Paths {
		for method := range ops {
			if method != "parameters" {
				documented = append(documented, strings.ToUpper(method)+" "+path)
			}
		}
	}
	sort.Strings(served)
	sort.Strings(documented)
	assert.Equal(t, served, documented, "routes vs docs/openapi.yaml paths")

	for name, v := range map[string]any{
		"Item": Item{}, "ScanResponse": ScanResponse{}, "BatchOp": BatchOp{}, "BatchRequest": BatchRequest{},
		"BatchResponse": BatchResponse{}, "Problem": httpx.Problem{},
	} {
		schema, ok := doc.Components.Schemas[name]
		require.True(t, ok, "schema %s missing from docs/openapi.yaml", name)
		var props []string
		for p := range schema.Properties {
			props = append(props, p)
		}
		sort.Strings(props)
		assert.Equal(t, jsonFields(reflect.TypeOf(v)), props, "schema %s vs its Go type", name)
	}
}

// jsonFields lists the JSON member names of a struct type.
func jsonFields(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case tag == "-" || !f.IsExported():
		case tag != "":
			out = append(out, tag)
		default:
			out = append(out, f.Name)
		}
	}
	sort.Strings(out)
	return out
}
