package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// encoding/json matches field names case-insensitively and lets the last of two equal names
// win, so {"op":"put","OP":"delete"} used to delete. Request bodies are decoded strictly: a
// name in another case, a repeated name and an unknown name are each a 400 naming the field.
func TestBatchFieldsAreExact(t *testing.T) {
	ts, _ := newServer(t)
	cases := []struct{ name, body, detail string }{
		{"op in another case", `{"ops":[{"op":"put","OP":"delete","key":"a","value":"dg=="}]}`,
			`unknown field \"ops[0].OP\": field names are case-sensitive, did you mean \"op\"?`},
		{"only the other case", `{"ops":[{"Op":"put","key":"a","value":"dg=="}]}`, `unknown field \"ops[0].Op\"`},
		{"key in another case", `{"ops":[{"op":"put","KEY":"b","key":"a","value":"dg=="}]}`, `\"ops[0].KEY\"`},
		{"ttl in another case", `{"ops":[{"op":"put","key":"a","value":"dg==","TTL":"1s"}]}`, `\"ops[0].TTL\"`},
		{"ops in another case", `{"Ops":[{"op":"put","key":"a","value":"dg=="}]}`, `unknown field \"Ops\"`},
		{"duplicate op", `{"ops":[{"op":"put","op":"delete","key":"a"}]}`, `duplicate field \"ops[0].op\"`},
		{"duplicate key", `{"ops":[{"op":"put","key":"a","key":"b","value":"dg=="}]}`, `duplicate field \"ops[0].key\"`},
		{"duplicate in a later op", `{"ops":[{"op":"put","key":"b","value":"dg=="},{"op":"put","key":"a","value":"dg==","value":"dw=="}]}`,
			`duplicate field \"ops[1].value\"`},
		{"duplicate ops", `{"ops":[{"op":"put","key":"a","value":"dg=="}],"ops":[]}`, `duplicate field \"ops\"`},
		{"unknown field", `{"ops":[{"op":"put","key":"a","value":"dg==","expire":"1s"}]}`, `unknown field \"ops[0].expire\"`},
		{"unknown top-level field", `{"ops":[{"op":"put","key":"a","value":"dg=="}],"atomic":true}`, `unknown field \"atomic\"`},
		{"unknown field nested in a value", `{"ops":[{"op":"put","key":"a","value":{"x":1}}]}`, `ops`},
		{"ops not a list", `{"ops":{"op":"put","key":"a"}}`, `ops`},
		{"not an object", `[1,2]`, `must be`},
		{"trailing data", `{"ops":[{"op":"put","key":"a","value":"dg=="}]} {}`, `single JSON value`},
		{"malformed", `{"ops":[{"op":"put","key":"a",}]}`, `malformed JSON`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, body := do(t, http.MethodPost, ts.URL+"/v1/batch", tc.body, "Content-Type", "application/json")
			require.Equal(t, http.StatusBadRequest, res.StatusCode, body)
			assert.Equal(t, "application/problem+json", res.Header.Get("Content-Type"))
			assert.Contains(t, body, tc.detail)
			for _, k := range []string{"a", "b"} {
				res, _ = do(t, http.MethodGet, ts.URL+"/v1/kv/"+k, "")
				assert.Equal(t, http.StatusNotFound, res.StatusCode, "a refused batch writes nothing")
			}
		})
	}

	// The exact names still work, in any order.
	res, body := do(t, http.MethodPost, ts.URL+"/v1/batch", `{"ops":[{"value":"dg==","key":"a","if_version":0,"ttl":"1h","op":"put"}]}`)
	require.Equal(t, http.StatusOK, res.StatusCode, body)
	_, body = do(t, http.MethodGet, ts.URL+"/v1/kv/a", "")
	assert.Equal(t, "v", body)
}

// FuzzDecodeStrict: any body gives a verdict without panicking; an accepted body uses only the
// exact field names of the wire types, each once, and decodes to what encoding/json decodes.
func FuzzDecodeStrict(f *testing.F) {
	for _, s := range []string{
		`{"ops":[{"op":"put","key":"a","value":"dg==","ttl":"1s","if_version":3}]}`,
		`{"ops":[{"op":"put","OP":"delete","key":"a"}]}`,
		`{"ops":[{"op":"put","op":"delete"}]}`,
		`{"ops":[]}`, `{}`, `null`, `[{"ops":1}]`, `{"ops":[[{"op":1}]]}`, `{"ops":[{"key":{"a":{"a":1,"a":2}}}]}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest(http.MethodPost, "/v1/batch", strings.NewReader(body))
		var got BatchRequest
		if decodeStrict(req, &got) != nil {
			return
		}
		var generic any
		require.NoError(t, json.Unmarshal([]byte(body), &generic))
		if m, ok := generic.(map[string]any); ok {
			assertKeys(t, m, "ops")
			ops, _ := m["ops"].([]any)
			for _, op := range ops {
				if o, ok := op.(map[string]any); ok {
					assertKeys(t, o, "op", "key", "value", "ttl", "if_version")
				}
			}
		}
		var lenient BatchRequest
		require.NoError(t, json.Unmarshal([]byte(body), &lenient))
		assert.True(t, reflect.DeepEqual(got, lenient), "strict %+v, lenient %+v", got, lenient)
	})
}

func assertKeys(t *testing.T, m map[string]any, allowed ...string) {
	t.Helper()
	for k := range m {
		assert.Contains(t, allowed, k, "accepted a field that is not exactly one of the wire names")
	}
}
