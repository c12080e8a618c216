package api

import (
	"context"
	"errors"
	"math"
	"runtime"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	rlv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/client"
	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/limit"
	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/rules"
	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/service"
)

// ServerOptions are the gRPC server settings the service runs with (cmd/ratelimit and the
// benchmarks share them, so what is measured is what runs).
//
// NumStreamWorkers serves RPCs on a fixed pool of goroutines instead of one new goroutine per
// RPC. A decision is short, so a fresh goroutine's stack growth and scheduling are a large part
// of it: with the pool, gRPC CPU per decision fell from ~70 to ~49 µs (client and server
// together, BenchmarkOursGRPC in cmd/rlbench on 2 cores). The option is marked experimental in
// grpc-go; if the pool is busy, gRPC falls back to a new goroutine, so it cannot stall RPCs.
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.NumStreamWorkers(uint32(runtime.GOMAXPROCS(0)))}
}

// RLS implements envoy.service.ratelimit.v3.RateLimitService, so Envoy (and Istio's rate-limit
// filter) can point at this service unchanged.
type RLS struct {
	rlv3.UnimplementedRateLimitServiceServer
	Engine  *service.Engine
	Metrics *Metrics
}

// ShouldRateLimit decides one Envoy request. Like envoy ratelimit it sets the draft IETF
// RateLimit headers via response_headers_to_add, so Envoy can pass them to clients.
func (s *RLS) ShouldRateLimit(ctx context.Context, req *rlv3.RateLimitRequest) (*rlv3.RateLimitResponse, error) {
	start := time.Now()
	defer func() { s.Metrics.observe("grpc", start) }()
	// One backing array for every descriptor's entries: a decision is short, so allocations
	// per entry would be a visible part of it.
	n := 0
	for _, d := range req.GetDescriptors() {
		n += len(d.GetEntries())
	}
	all := make([]rules.Entry, 0, n)
	descs := make([]service.Descriptor, len(req.GetDescriptors()))
	for i, d := range req.GetDescriptors() {
		start := len(all)
		for _, e := range d.GetEntries() {
			all = append(all, rules.Entry{Key: e.GetKey(), Value: e.GetValue()})
		}
		descs[i].Entries = all[start:len(all):len(all)]
		if h := d.GetHitsAddend(); h != nil {
			descs[i].Hits = hits(h.GetValue())
		}
	}
	overall, statuses, err := s.Engine.Check(ctx, req.GetDomain(), descs, int64(req.GetHitsAddend()))
	if err != nil {
		return nil, grpcError(ctx, err)
	}
	res := &rlv3.RateLimitResponse{OverallCode: rlsCode(overall), Statuses: make([]*rlv3.RateLimitResponse_DescriptorStatus, len(statuses))}
	for i, st := range statuses {
		ds := &rlv3.RateLimitResponse_DescriptorStatus{Code: rlsCode(st.Code)}
		if st.Rule != nil && !st.Rule.Unlimited {
			ds.CurrentLimit = &rlv3.RateLimitResponse_RateLimit{
				Name: st.Rule.Name, RequestsPerUnit: uint32(st.Rule.Limit.Requests), Unit: rlsUnit(st.Rule.Unit),
			}
			ds.LimitRemaining = uint32(st.Decision.Remaining)
			ds.DurationUntilReset = durationpb.New(st.Decision.ResetAfter)
		}
		res.Statuses[i] = ds
	}
	results := make([]client.Result, len(statuses))
	for i, st := range statuses {
		results[i] = client.FromStatus(st)
	}
	hs := client.Headers(results)
	values := make([]corev3.HeaderValue, len(hs))
	for i, h := range hs {
		values[i] = corev3.HeaderValue{Key: h[0], Value: h[1]}
		res.ResponseHeadersToAdd = append(res.ResponseHeadersToAdd, &values[i])
	}
	return res, nil
}

// grpcError maps Check's errors to gRPC statuses. None of them admits the request: Envoy applies
// its failure_mode_deny to any error.
func grpcError(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, limit.ErrInvalid):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, limit.ErrOverloaded):
		return status.Error(codes.ResourceExhausted, err.Error()) // busy, not failing: retry later
	case errors.Is(err, service.ErrUnavailable):
		return status.Error(codes.Unavailable, err.Error()) // a rule's failure_mode error
	case ctx.Err() != nil:
		return status.FromContextError(ctx.Err()).Err()
	}
	return status.Error(codes.Internal, err.Error())
}

// hits converts a descriptor's uint64 hits_addend to a cost. A value past int64's range is
// clamped to the largest cost, not wrapped: wrapped, it turned negative and read as "unset"
// (cost 1, OK). Clamped, it is larger than any limit, so the descriptor is OVER_LIMIT and, being
// denied, consumes nothing (ADR 0003). That is safer than an InvalidArgument error, which Envoy
// turns into an admit under its default failure_mode_deny: false. envoy ratelimit passes such a
// value to Redis's INCRBY, which refuses it, so it answers an error (Envoy decides).
func hits(v uint64) int64 {
	return int64(min(v, math.MaxInt64))
}

func rlsCode(c service.Code) rlv3.RateLimitResponse_Code {
	if c == service.OverLimit {
		return rlv3.RateLimitResponse_OVER_LIMIT
	}
	return rlv3.RateLimitResponse_OK
}

func rlsUnit(unit string) rlv3.RateLimitResponse_RateLimit_Unit {
	switch unit {
	case "second":
		return rlv3.RateLimitResponse_RateLimit_SECOND
	case "minute":
		return rlv3.RateLimitResponse_RateLimit_MINUTE
	case "hour":
		return rlv3.RateLimitResponse_RateLimit_HOUR
	case "day":
		return rlv3.RateLimitResponse_RateLimit_DAY
	case "week":
		return rlv3.RateLimitResponse_RateLimit_WEEK
	case "month":
		return rlv3.RateLimitResponse_RateLimit_MONTH
	case "year":
		return rlv3.RateLimitResponse_RateLimit_YEAR
	}
	return rlv3.RateLimitResponse_RateLimit_UNKNOWN
}
