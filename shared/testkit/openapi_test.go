package testkit

import (
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/stretchr/testify/assert"
)

// recorder is a testing.TB that notes failures instead of failing the real test.
type recorder struct {
	testing.TB
	failed bool
}

func (r *recorder) Helper()                   {}
func (r *recorder) Errorf(string, ...any)     { r.failed = true }
func (r *recorder) FailNow()                  { r.failed = true; panic(r) }
func (r *recorder) Fatalf(f string, a ...any) { r.Errorf(f, a...); r.FailNow() }

// check runs CheckOpenAPI on a recorder and reports whether it failed.
func check(t *testing.T, spec string, o OpenAPI) bool {
	path := filepath.Join(t.TempDir(), "openapi.yaml")
	if err := os.WriteFile(path, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	o.Spec = path
	r := &recorder{TB: t}
	var wg sync.WaitGroup
	wg.Go(func() {
		defer func() {
			if v := recover(); v != nil && v != r {
				panic(v)
			}
		}()
		CheckOpenAPI(r, o)
	})
	wg.Wait()
	return r.failed
}

type wire struct {
	Name  string `json:"name"`
	Count int    `json:"count,omitempty"`
	Skip  string `json:"-"`
}

func TestCheckOpenAPI(t *testing.T) {
	r := chi.NewRouter()
	r.Get("/v1/items/*", func(http.ResponseWriter, *http.Request) {})
	r.Post("/v1/items", func(http.ResponseWriter, *http.Request) {})
	o := OpenAPI{Routes: r, Rename: map[string]string{"/v1/items/*": "/v1/items/{id}"}, Schemas: map[string]any{"Wire": wire{}}}
	good := `
paths:
  /v1/items/{id}:
    parameters: [{name: id, in: path}]
    get: {}
  /v1/items:
    post: {}
components:
  schemas:
    Wire:
      properties: {name: {}, count: {}}
`
	assert.False(t, check(t, good, o), "a true document passes")
	for name, spec := range map[string]string{
		"route missing": `
paths:
  /v1/items:
    post: {}
components: {schemas: {Wire: {properties: {name: {}, count: {}}}}}
`,
		"route not served": `
paths:
  /v1/items/{id}: {get: {}}
  /v1/items: {post: {}}
  /v1/other: {get: {}}
components: {schemas: {Wire: {properties: {name: {}, count: {}}}}}
`,
		"field missing": `
paths:
  /v1/items/{id}: {get: {}}
  /v1/items: {post: {}}
components: {schemas: {Wire: {properties: {name: {}}}}}
`,
		"schema missing": `
paths:
  /v1/items/{id}: {get: {}}
  /v1/items: {post: {}}
`,
	} {
		assert.True(t, check(t, spec, o), name)
	}
}
