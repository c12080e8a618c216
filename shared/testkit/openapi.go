package testkit

import (
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
)

// OpenAPI describes what CheckOpenAPI compares.
type OpenAPI struct {
	Spec    string         // path of the OpenAPI document (YAML)
	Routes  chi.Routes     // the router the service serves
	Schemas map[string]any // component schema name → a value of the Go wire type it documents
	// Rename maps a served chi pattern to the path the document uses for it, for patterns
	// OpenAPI cannot spell (a catch-all "/v1/kv/*" documented as "/v1/kv/{key}").
	Rename map[string]string
}

// CheckOpenAPI fails t unless the document lists exactly the routes served (method and path)
// and each named schema has exactly the JSON members of its Go type, so the document cannot
// drift from the code.
func CheckOpenAPI(t testing.TB, o OpenAPI) {
	t.Helper()
	b, err := os.ReadFile(o.Spec)
	require.NoError(t, err)
	var doc struct {
		Paths      map[string]map[string]any `yaml:"paths"`
		Components struct {
			Schemas map[string]struct {
				Properties map[string]any `yaml:"properties"`
			} `yaml:"schemas"`
		} `yaml:"components"`
	}
	require.NoError(t, yaml.Unmarshal(b, &doc), o.Spec)

	var served, documented []string
	require.NoError(t, chi.Walk(o.Routes, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if p, ok := o.Rename[route]; ok {
			route = p
		}
		served = append(served, method+" "+route)
		return nil
	}))
	for path, ops := range doc.Paths {
		for method := range ops {
			if method != "parameters" { // path-level parameters, not an operation
				documented = append(documented, strings.ToUpper(method)+" "+path)
			}
		}
	}
	sort.Strings(served)
	sort.Strings(documented)
	assert.Equal(t, served, documented, "routes served vs paths in %s", o.Spec)

	for name, v := range o.Schemas {
		schema, ok := doc.Components.Schemas[name]
		if !assert.True(t, ok, "schema %s missing from %s", name, o.Spec) {
			continue
		}
		var props []string
		for p := range schema.Properties {
			props = append(props, p)
		}
		sort.Strings(props)
		assert.Equal(t, jsonFields(reflect.TypeOf(v)), props, "schema %s vs its Go type", name)
	}
}

// jsonFields lists the JSON member names of a struct type, through embedded structs.
func jsonFields(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case tag == "-" || !f.IsExported():
		case f.Anonymous && tag == "":
			out = append(out, jsonFields(f.Type)...)
		case tag != "":
			out = append(out, tag)
		default:
			out = append(out, f.Name)
		}
	}
	sort.Strings(out)
	return out
}
