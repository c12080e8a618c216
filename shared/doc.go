// Package shared is the module every Hyperscale Design Systems service builds on.
//
// Its packages are small on purpose; each is the one obvious place for its job:
//
//   - config: typed configuration from environment variables, validated, logged with secrets masked.
//   - logging: log/slog set-up with request and trace IDs taken from the context.
//   - telemetry: the Prometheus registry and the OpenTelemetry tracer provider, with one Shutdown.
//   - httpx: the HTTP server builder, middleware, RFC 9457 problems, health and readiness.
//   - testkit: isolated real backends (Redis, PostgreSQL, Kafka, S3, Chromium, ffmpeg) for tests.
//   - loadgen: an open-loop load generator with HDR histograms and a self-contained report.
//   - proc: build a system's binaries and run them as real processes (ready, SIGTERM, SIGKILL).
package shared
