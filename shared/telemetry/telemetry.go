// Package telemetry owns a service's metrics registry and tracer provider.
//
// Metrics go to a Prometheus registry that the service passes around (never the global default
// one, so tests can build many services in one process). Traces go over OTLP/HTTP when
// OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set, and nowhere
// otherwise: the no-op provider costs nothing, so the embedded default needs no collector.
// W3C trace context and baggage are propagated either way, so a service without an exporter still
// passes its callers' trace IDs on.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Telemetry bundles what a service reports with.
type Telemetry struct {
	Registry   *prometheus.Registry
	Tracers    trace.TracerProvider
	Propagator propagation.TextMapPropagator
	sdk        *sdktrace.TracerProvider // nil when tracing is off
}

// Options name the service in traces.
type Options struct {
	Service string
	Version string
}

// New builds the registry (with Go runtime and process collectors) and the tracer provider.
// It also installs the provider and propagator as OpenTelemetry's globals, because
// instrumentation libraries (database and HTTP client wrappers) look them up there.
func New(ctx context.Context, o Options) (*Telemetry, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	t := &Telemetry{
		Registry:   reg,
		Tracers:    noop.NewTracerProvider(),
		Propagator: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
	}
	if TracingEnabled() {
		exp, err := otlptracehttp.New(ctx) // reads the OTEL_EXPORTER_OTLP_* variables itself
		if err != nil {
			return nil, fmt.Errorf("otlp exporter: %w", err)
		}
		res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
			attribute.String("service.name", o.Service), attribute.String("service.version", o.Version)))
		if err != nil {
			return nil, fmt.Errorf("otel resource: %w", err)
		}
		// The sampler is left to OTEL_TRACES_SAMPLER / _ARG (the SDK reads them; default: parent-based always-on).
		t.sdk = sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
		t.Tracers = t.sdk
	}
	otel.SetTracerProvider(t.Tracers)
	otel.SetTextMapPropagator(t.Propagator)
	return t, nil
}

// TracingEnabled reports whether an OTLP endpoint is configured.
func TracingEnabled() bool {
	return os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// Tracer returns a named tracer from the service's provider.
func (t *Telemetry) Tracer(name string) trace.Tracer { return t.Tracers.Tracer(name) }

// Handler serves the registry in the Prometheus and OpenMetrics text formats.
func (t *Telemetry) Handler() http.Handler {
	return promhttp.HandlerFor(t.Registry, promhttp.HandlerOpts{Registry: t.Registry, EnableOpenMetrics: true})
}

// Shutdown flushes buffered spans; call it last, after the servers have drained.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	if t.sdk == nil {
		return nil
	}
	return errors.Join(t.sdk.ForceFlush(ctx), t.sdk.Shutdown(ctx))
}
