// Package logging sets up log/slog the same way in every service: JSON when the output is not a
// terminal (containers, CI), text on a terminal, level from LOG_LEVEL, and every record carrying
// the request ID and trace ID found in its context.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"go.opentelemetry.io/otel/trace"
	"golang.org/x/term"
)

// Options choose the handler. The zero value logs at info, in the format that suits the output.
type Options struct {
	Level   string // debug, info, warn, error (default info)
	Format  string // json, text or auto (default auto: text on a terminal, JSON otherwise)
	Service string // added as the "service" attribute when set
}

// FromEnv builds a logger on stderr from LOG_LEVEL and LOG_FORMAT.
func FromEnv(service string) (*slog.Logger, error) {
	return New(os.Stderr, Options{Level: os.Getenv("LOG_LEVEL"), Format: os.Getenv("LOG_FORMAT"), Service: service})
}

// New builds a logger writing to w.
func New(w io.Writer, o Options) (*slog.Logger, error) {
	level, err := ParseLevel(o.Level)
	if err != nil {
		return nil, err
	}
	hopts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch strings.ToLower(o.Format) {
	case "json":
		h = slog.NewJSONHandler(w, hopts)
	case "text":
		h = slog.NewTextHandler(w, hopts)
	case "", "auto":
		if isTerminal(w) {
			h = slog.NewTextHandler(w, hopts)
		} else {
			h = slog.NewJSONHandler(w, hopts)
		}
	default:
		return nil, fmt.Errorf("LOG_FORMAT %q: want json, text or auto", o.Format)
	}
	l := slog.New(contextHandler{h})
	if o.Service != "" {
		l = l.With("service", o.Service)
	}
	return l, nil
}

// ParseLevel maps a LOG_LEVEL value to a slog level; empty means info.
func ParseLevel(s string) (slog.Level, error) {
	if s == "" {
		return slog.LevelInfo, nil
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("LOG_LEVEL %q: want debug, info, warn or error", s)
	}
	return l, nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

type requestIDKey struct{}

// WithRequestID returns a context whose log records carry id as request_id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID returns the request ID stored by WithRequestID, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// contextHandler adds the request ID and the OpenTelemetry trace and span IDs from the record's
// context, so handlers only need to log with the request's context (logger.InfoContext(ctx, ...)).
type contextHandler struct{ slog.Handler }

func (h contextHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestID(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h contextHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return contextHandler{h.Handler.WithAttrs(as)}
}

func (h contextHandler) WithGroup(name string) slog.Handler {
	return contextHandler{h.Handler.WithGroup(name)}
}
