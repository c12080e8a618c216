// Package boot starts every service binary the same way: a context cancelled by SIGINT or SIGTERM,
// the logger, the typed config from the environment (validated and logged once, secrets masked)
// and telemetry — then the service's own run function. When that fails the process exits 1 with
// a message that says where the settings are documented; this is the one os.Exit of a service.
package boot

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/hyperscaledesignhub/DesignSystems/shared/config"
	"github.com/hyperscaledesignhub/DesignSystems/shared/logging"
	"github.com/hyperscaledesignhub/DesignSystems/shared/telemetry"
)

// Service is what a run function starts from.
type Service[T any] struct {
	Name      string
	Logger    *slog.Logger
	Config    T
	Telemetry *telemetry.Telemetry
}

// Main runs the service name (at version) until a signal, then exits: 0 when run returned nil,
// 1 otherwise. docs names where the settings are explained, for the error message.
func Main[T any](name, version, docs string, run func(ctx context.Context, s *Service[T]) error) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := Run(ctx, name, version, run)
	stop()
	if err != nil {
		fail(os.Stderr, name, docs, err)
		os.Exit(1)
	}
}

// Run is Main without the signals and the exit, for tests.
func Run[T any](ctx context.Context, name, version string, run func(ctx context.Context, s *Service[T]) error) error {
	logger, err := logging.FromEnv(name)
	if err != nil {
		return err
	}
	cfg, err := config.Load[T]()
	if err != nil {
		return err
	}
	config.Log[T](logger)
	tel, err := telemetry.New(ctx, telemetry.Options{Service: name, Version: version})
	if err != nil {
		return err
	}
	defer func() { _ = tel.Shutdown(context.Background()) }() // flushes the last spans
	return run(ctx, &Service[T]{Name: name, Logger: logger, Config: cfg, Telemetry: tel})
}

func fail(w io.Writer, name, docs string, err error) {
	fmt.Fprintf(w, "%s: %v\n(settings are environment variables; see %s)\n", name, err, docs)
}
