package client

// The HTTP API's wire types (POST /v1/check, POST /v1/release), shared by the server and this
// client so the two cannot drift. docs/openapi.yaml describes the same shapes; a test keeps it true.

// Entry is one key/value pair of a descriptor, as in Envoy's RateLimitDescriptor.
type Entry struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Descriptor is one set of entries to limit on; Hits overrides the request's cost for it.
type Descriptor struct {
	Entries []Entry `json:"entries"`
	Hits    int64   `json:"hits,omitempty"`
}

// CheckRequest asks for a decision on every descriptor; Hits is the default cost (0 means 1).
type CheckRequest struct {
	Domain      string       `json:"domain"`
	Descriptors []Descriptor `json:"descriptors"`
	Hits        int64        `json:"hits,omitempty"`
}

// CheckResponse is the decision: Overall is "OVER_LIMIT" when any descriptor is.
type CheckResponse struct {
	Overall string   `json:"overall"`
	Results []Result `json:"results"`
}

// Result is the decision for one descriptor, aligned with the request's descriptors.
type Result struct {
	Code         string `json:"code"`           // "OK" or "OVER_LIMIT"
	Rule         string `json:"rule,omitempty"` // the rule's name, else its descriptor path; "" when none matched
	Key          string `json:"key,omitempty"`  // the limiter key (for Release)
	Algorithm    string `json:"algorithm,omitempty"`
	Limit        int64  `json:"limit"`
	Unit         string `json:"unit,omitempty"`
	PeriodMs     int64  `json:"period_ms,omitempty"` // the limit's window (its unit) in milliseconds
	Remaining    int64  `json:"remaining"`
	ResetAfterMs int64  `json:"reset_after_ms"`
	RetryAfterMs int64  `json:"retry_after_ms"`
	DelayMs      int64  `json:"delay_ms,omitempty"` // leaky_queue: wait this long before proceeding
	Lease        string `json:"lease,omitempty"`    // concurrency: pass to /v1/release when done
	Shadow       bool   `json:"shadow,omitempty"`   // over the limit but the rule is in shadow mode
	FailureMode  string `json:"failure_mode,omitempty"`
}

// ReleaseRequest returns a concurrency lease.
type ReleaseRequest struct {
	Key   string `json:"key"`
	Lease string `json:"lease"`
}
