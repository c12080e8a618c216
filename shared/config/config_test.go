package config

import (
	"bytes"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type sample struct {
	Addr        string        `env:"ADDR" envDefault:":8100"`
	Timeout     time.Duration `env:"TIMEOUT" envDefault:"50ms"`
	Replicas    int           `env:"REPLICAS" envDefault:"1"`
	DatabaseURL string        `env:"DATABASE_URL"`
	APIToken    string        `env:"API_TOKEN"`
	SigningKey  string        `env:"SIGNING_KEY"`
}

func (s *sample) Validate() error {
	if s.Replicas < 1 {
		return errors.New("REPLICAS must be at least 1")
	}
	return nil
}

func TestLoadDefaultsAndOverrides(t *testing.T) {
	cfg, err := LoadFrom[sample](map[string]string{})
	require.NoError(t, err)
	assert.Equal(t, ":8100", cfg.Addr)
	assert.Equal(t, 50*time.Millisecond, cfg.Timeout)

	cfg, err = LoadFrom[sample](map[string]string{"TIMEOUT": "2s", "REPLICAS": "3"})
	require.NoError(t, err)
	assert.Equal(t, 2*time.Second, cfg.Timeout)
	assert.Equal(t, 3, cfg.Replicas)
}

func TestLoadErrorsNameTheVariable(t *testing.T) {
	_, err := LoadFrom[sample](map[string]string{"TIMEOUT": "soon"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "TIMEOUT")

	_, err = LoadFrom[sample](map[string]string{"REPLICAS": "0"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "REPLICAS must be at least 1")
}

func TestEffectiveMasksSecrets(t *testing.T) {
	environ := map[string]string{
		"DATABASE_URL": "postgres://app:hunter2@db:5432/app",
		"API_TOKEN":    "tok-123",
		"SIGNING_KEY":  "k-456",
		"REPLICAS":     "2",
	}
	fields, err := Effective[sample](environ)
	require.NoError(t, err)
	got := map[string]Field{}
	for _, f := range fields {
		got[f.Env] = f
	}
	require.Len(t, got, 6)
	assert.Equal(t, "postgres://app:xxxxx@db:5432/app", got["DATABASE_URL"].Value)
	assert.Equal(t, "*****", got["API_TOKEN"].Value)
	assert.Equal(t, "*****", got["SIGNING_KEY"].Value)
	assert.Equal(t, Field{Env: "REPLICAS", Value: "2"}, got["REPLICAS"])
	assert.Equal(t, Field{Env: "ADDR", Value: ":8100", Default: true}, got["ADDR"])

	for k, v := range environ {
		t.Setenv(k, v)
	}
	var buf bytes.Buffer
	Log[sample](slog.New(slog.NewTextHandler(&buf, nil)))
	assert.NotContains(t, buf.String(), "hunter2")
	assert.NotContains(t, buf.String(), "tok-123")
	assert.Contains(t, buf.String(), `ADDR=":8100 (default)"`)
}
