package api

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"testing"
	"time"

	rlcommon "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
	rlv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// hits_addend at the edges of its wire types, through the real gRPC server against the "user"
// rule (fixed window, 3 per minute). The descriptor's field is a uint64: a value past int64 is
// clamped to the largest cost, so it is OVER_LIMIT and consumes nothing. The request's field is
// a uint32, so it cannot overflow; its edges are checked all the same.
func TestGRPCHitsAddendEdges(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, c := range []struct {
		name      string
		reqHits   uint32
		descHits  *uint64 // nil: field unset
		want      rlv3.RateLimitResponse_Code
		remaining uint32 // after the call; 3 when the call consumed nothing
	}{
		{"descriptor 0 means the request's (1)", 0, ptr(0), rlv3.RateLimitResponse_OK, 2},
		{"descriptor 1", 0, ptr(1), rlv3.RateLimitResponse_OK, 2},
		{"descriptor 3 fills the limit", 0, ptr(3), rlv3.RateLimitResponse_OK, 0},
		{"descriptor 4 is over", 0, ptr(4), rlv3.RateLimitResponse_OVER_LIMIT, 3},
		{"descriptor 2^63-1", 0, ptr(math.MaxInt64), rlv3.RateLimitResponse_OVER_LIMIT, 3},
		{"descriptor 2^63", 0, ptr(1 << 63), rlv3.RateLimitResponse_OVER_LIMIT, 3},
		{"descriptor 2^64-1", 0, ptr(math.MaxUint64), rlv3.RateLimitResponse_OVER_LIMIT, 3},
		{"descriptor 2^64-1 overrides request 1", 1, ptr(math.MaxUint64), rlv3.RateLimitResponse_OVER_LIMIT, 3},
		{"descriptor 1 overrides request 2^32-1", math.MaxUint32, ptr(1), rlv3.RateLimitResponse_OK, 2},
		{"request 0 means 1", 0, nil, rlv3.RateLimitResponse_OK, 2},
		{"request 1", 1, nil, rlv3.RateLimitResponse_OK, 2},
		{"request 4 is over", 4, nil, rlv3.RateLimitResponse_OVER_LIMIT, 3},
		{"request 2^31", 1 << 31, nil, rlv3.RateLimitResponse_OVER_LIMIT, 3},
		{"request 2^32-1", math.MaxUint32, nil, rlv3.RateLimitResponse_OVER_LIMIT, 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := &rlcommon.RateLimitDescriptor{Entries: []*rlcommon.RateLimitDescriptor_Entry{{Key: "user", Value: c.name}}}
			if c.descHits != nil {
				d.HitsAddend = wrapperspb.UInt64(*c.descHits)
			}
			res, err := f.rls.ShouldRateLimit(ctx, &rlv3.RateLimitRequest{Domain: "api", HitsAddend: c.reqHits, Descriptors: []*rlcommon.RateLimitDescriptor{d}})
			require.NoError(t, err)
			assert.Equal(t, c.want, res.OverallCode)
			assert.Equal(t, c.remaining, res.Statuses[0].LimitRemaining)
		})
	}
}

// The HTTP API takes hits as JSON integers into int64: a value past its range is a 400 problem,
// never a wrapped cost; the largest int64 is a valid cost that no limit admits.
func TestHTTPHitsEdges(t *testing.T) {
	f := newFixture(t)
	for i, c := range []struct {
		hits     string
		status   int
		overall  string
		perDesc  bool
		describe string
	}{
		{"9223372036854775807", http.StatusOK, "OVER_LIMIT", false, "2^63-1"},
		{"9223372036854775807", http.StatusOK, "OVER_LIMIT", true, "2^63-1 per descriptor"},
		{"9223372036854775808", http.StatusBadRequest, "", false, "2^63"},
		{"9223372036854775808", http.StatusBadRequest, "", true, "2^63 per descriptor"},
		{"18446744073709551615", http.StatusBadRequest, "", false, "2^64-1"},
		{"18446744073709551615", http.StatusBadRequest, "", true, "2^64-1 per descriptor"},
		{"-9223372036854775808", http.StatusBadRequest, "", true, "-2^63 per descriptor"},
		{"1e3", http.StatusBadRequest, "", false, "not an integer"},
	} {
		body := fmt.Sprintf(`{"domain":"api","hits":%s,"descriptors":[{"entries":[{"key":"user","value":"h%d"}]}]}`, c.hits, i)
		if c.perDesc {
			body = fmt.Sprintf(`{"domain":"api","descriptors":[{"hits":%s,"entries":[{"key":"user","value":"h%d"}]}]}`, c.hits, i)
		}
		res, out := f.check(t, body)
		assert.Equal(t, c.status, res.StatusCode, c.describe)
		if c.status == http.StatusOK {
			assert.Equal(t, c.overall, out.Overall, c.describe)
			assert.Equal(t, int64(3), out.Results[0].Remaining, "%s consumed nothing", c.describe)
		} else {
			assert.Equal(t, "application/problem+json", res.Header.Get("Content-Type"), c.describe)
		}
	}
}

func ptr(v uint64) *uint64 { return &v }
