// Package config loads a service's typed configuration from environment variables.
//
// A service declares one struct with `env` and `envDefault` tags (github.com/caarlos0/env), so the
// defaults live next to the fields and run with no external service. Load parses it, runs the
// struct's Validate method when it has one, and Effective lists every variable with its value —
// secrets masked — so start-up logs show exactly what a process runs with.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"reflect"
	"sort"
	"strings"

	"github.com/caarlos0/env/v11"
)

// Validator is implemented by config structs that check themselves after parsing.
type Validator interface {
	Validate() error
}

// Load parses the process environment into a T.
func Load[T any]() (T, error) {
	return LoadFrom[T](env.ToMap(os.Environ()))
}

// LoadFrom parses the given environment into a T; tests use it instead of mutating os.Environ.
func LoadFrom[T any](environ map[string]string) (T, error) {
	cfg, err := env.ParseAsWithOptions[T](env.Options{Environment: environ})
	if err != nil {
		return cfg, fmt.Errorf("config: %w", flatten[T](err))
	}
	if v, ok := any(&cfg).(Validator); ok {
		if err := v.Validate(); err != nil {
			return cfg, fmt.Errorf("config: %w", err)
		}
	}
	return cfg, nil
}

// flatten turns env's aggregate error into one line per problem, each naming the variable
// (env reports parse errors by Go field name, but operators set variables, not fields).
func flatten[T any](err error) error {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return err
	}
	keys := envKeys(reflect.TypeFor[T](), "")
	msgs := make([]string, len(agg.Errors))
	for i, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) && keys[pe.Name] != "" {
			msgs[i] = fmt.Sprintf("%s: %v", keys[pe.Name], pe.Err)
			continue
		}
		msgs[i] = e.Error()
	}
	return errors.New(strings.Join(msgs, "; "))
}

// envKeys maps Go field names to the variable names their tags give, through nested structs.
func envKeys(t reflect.Type, prefix string) map[string]string {
	out := map[string]string{}
	for i := range t.NumField() {
		f := t.Field(i)
		if key, _, _ := strings.Cut(f.Tag.Get("env"), ","); key != "" {
			out[f.Name] = prefix + key
		}
		if f.Type.Kind() == reflect.Struct {
			for k, v := range envKeys(f.Type, prefix+f.Tag.Get("envPrefix")) {
				out[k] = v
			}
		}
	}
	return out
}

// Field is one variable of the effective configuration.
type Field struct {
	Env     string
	Value   string // masked when secret
	Default bool   // the value came from envDefault (or is the zero value)
}

// Effective lists every variable that cfg (a pointer to a tagged struct) declares, in name order,
// with the value it resolves to in environ. Secrets are masked: variables whose name says
// PASSWORD, SECRET, TOKEN or ends in _KEY, and the password part of any URL.
func Effective[T any](environ map[string]string) ([]Field, error) {
	var t T
	params, err := env.GetFieldParamsWithOptions(&t, env.Options{Environment: environ})
	if err != nil {
		return nil, err
	}
	values := map[string]Field{}
	opts := env.Options{Environment: environ, OnSet: func(key string, v any, isDefault bool) {
		values[key] = Field{Env: key, Value: fmt.Sprint(v), Default: isDefault}
	}}
	if _, err := env.ParseAsWithOptions[T](opts); err != nil {
		return nil, fmt.Errorf("config: %w", flatten[T](err))
	}
	out := make([]Field, 0, len(params))
	for _, p := range params {
		f, ok := values[p.Key]
		if !ok {
			f = Field{Env: p.Key, Default: true}
		}
		f.Value = mask(f.Env, f.Value)
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Env < out[j].Env })
	return out, nil
}

// Log writes the process's effective configuration of T as one log record at info level.
func Log[T any](logger *slog.Logger) {
	fields, err := Effective[T](env.ToMap(os.Environ()))
	if err != nil {
		logger.Error("effective config", "err", err)
		return
	}
	attrs := make([]any, 0, len(fields))
	for _, f := range fields {
		v := f.Value
		if f.Default {
			v += " (default)"
		}
		attrs = append(attrs, slog.String(f.Env, v))
	}
	logger.Info("config", attrs...)
}

func mask(name, value string) string {
	if value == "" {
		return value
	}
	up := strings.ToUpper(name)
	for _, s := range []string{"PASSWORD", "SECRET", "TOKEN"} {
		if strings.Contains(up, s) {
			return "*****"
		}
	}
	if strings.HasSuffix(up, "_KEY") {
		return "*****"
	}
	// A URL may carry a password (postgres://user:pw@host); keep the rest, it is useful to see.
	if u, err := url.Parse(value); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
			return u.String()
		}
	}
	return value
}
