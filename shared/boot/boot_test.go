package boot

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type testConfig struct {
	Addr  string `env:"BOOT_TEST_ADDR" envDefault:":9999"`
	Count int    `env:"BOOT_TEST_COUNT" envDefault:"3"`
}

func TestRunHandsConfigLoggerAndTelemetry(t *testing.T) {
	t.Setenv("BOOT_TEST_COUNT", "7")
	var got *Service[testConfig]
	err := Run(context.Background(), "boot-test", "v1", func(_ context.Context, s *Service[testConfig]) error {
		got = s
		return nil
	})
	require.NoError(t, err)
	require.NotNil(t, got)
	assert.Equal(t, testConfig{Addr: ":9999", Count: 7}, got.Config)
	assert.NotNil(t, got.Logger)
	assert.NotNil(t, got.Telemetry)
	assert.Equal(t, "boot-test", got.Name)
}

func TestRunStopsAtBadConfig(t *testing.T) {
	t.Setenv("BOOT_TEST_COUNT", "many")
	called := false
	err := Run(context.Background(), "boot-test", "v1", func(context.Context, *Service[testConfig]) error {
		called = true
		return nil
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "BOOT_TEST_COUNT", "the error names the variable")
	assert.False(t, called, "run is not called with a config that did not parse")
}

func TestRunReturnsRunError(t *testing.T) {
	boom := errors.New("boom")
	err := Run(context.Background(), "boot-test", "v1", func(context.Context, *Service[testConfig]) error { return boom })
	assert.ErrorIs(t, err, boom)

	var out bytes.Buffer
	fail(&out, "boot-test", "x/README.md", err)
	assert.Equal(t, "boot-test: boom\n(settings are environment variables; see x/README.md)\n", out.String())
}
