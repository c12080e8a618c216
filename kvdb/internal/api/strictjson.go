package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"

	"github.com/hyperscaledesignhub/DesignSystems/shared/httpx"
)

// decodeStrict decodes a JSON request body into dst as httpx.DecodeJSON does (content type,
// size limit, unknown fields, one value), and also refuses what encoding/json lets through:
// a field name in another case ("OP" fills Op) and a field given twice (the last one wins).
// Both would let {"op":"put","OP":"delete"} mean something other than what it looks like.
func decodeStrict(r *http.Request, dst any) error {
	var raw json.RawMessage
	if err := httpx.DecodeJSON(r, &raw); err != nil {
		return err
	}
	if err := checkKeys(json.NewDecoder(bytes.NewReader(raw)), reflect.TypeOf(dst), ""); err != nil {
		var p *httpx.Problem
		if errors.As(err, &p) {
			return p
		}
		return httpx.Problemf(http.StatusBadRequest, "invalid JSON body: %v", err)
	}
	// The names are exact now; decode again through httpx for its typed errors.
	r.Body = io.NopCloser(bytes.NewReader(raw))
	return httpx.DecodeJSON(r, dst)
}

// checkKeys reads one JSON value from dec. In every object it refuses a key seen twice, and where
// the object decodes into a struct (t), a key that is not exactly one of the struct's JSON names.
// t == nil means any value. Paths in the errors look like ops[2].op.
func checkKeys(dec *json.Decoder, t reflect.Type, path string) error {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	delim, ok := tok.(json.Delim)
	if !ok {
		return nil // a scalar: its type is checked by the real decode
	}
	switch delim {
	case '{':
		var fields map[string]reflect.Type
		if t != nil && t.Kind() == reflect.Struct {
			fields = jsonFields(t)
		}
		seen := map[string]bool{}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return err
			}
			key := tok.(string) // object keys are always strings
			name := key
			if path != "" {
				name = path + "." + key
			}
			if seen[key] {
				return httpx.Problemf(http.StatusBadRequest, "duplicate field %q: give each field once", name)
			}
			seen[key] = true
			var elem reflect.Type
			switch {
			case fields != nil:
				ft, ok := fields[key]
				if !ok {
					return unknownField(name, key, fields)
				}
				elem = ft
			case t != nil && t.Kind() == reflect.Map:
				elem = t.Elem()
			}
			if err := checkKeys(dec, elem, name); err != nil {
				return err
			}
		}
	case '[':
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for i := 0; dec.More(); i++ {
			if err := checkKeys(dec, elem, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	}
	_, err = dec.Token() // the closing delimiter
	return err
}

func unknownField(name, key string, fields map[string]reflect.Type) error {
	for f := range fields {
		if strings.EqualFold(f, key) {
			return httpx.Problemf(http.StatusBadRequest, "unknown field %q: field names are case-sensitive, did you mean %q?", name, f)
		}
	}
	return httpx.Problemf(http.StatusBadRequest, "unknown field %q", name)
}

// jsonFields maps the JSON names of t's exported fields to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	fields := make(map[string]reflect.Type, t.NumField())
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = f.Name
		}
		fields[name] = f.Type
	}
	return fields
}
