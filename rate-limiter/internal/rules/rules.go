// Package rules loads rate-limit rules written in envoyproxy/ratelimit's YAML format (one domain
// per file, nested descriptors), validates them with file:line errors, matches request
// descriptors to rules with envoy's semantics, and hot-reloads the files into an atomically
// swapped Set.
//
// # Format
//
// A file envoy ratelimit accepts loads here with the same meaning:
//
//	domain: messaging
//	descriptors:
//	  - key: message_type          # required
//	    value: marketing           # optional: absent = any value, each distinct value limited apart;
//	                               # a trailing "*" matches values by prefix
//	    descriptors:               # optional: nested levels
//	      - key: to_number
//	        rate_limit:
//	          unit: day            # second, minute, hour, day, week, month (30 d), year (365 d)
//	          requests_per_unit: 5 # 0 denies every request (envoy's blocklist idiom)
//	          name: marketing      # optional, for replaces
//	          replaces: [{name: other}]
//	          # extensions of this project, all optional:
//	          algorithm: token_bucket  # default fixed_window: envoy ratelimit counts in fixed windows
//	          burst: 10                # bucket capacity for token_bucket, leaky_*, gcra
//	          failure_mode: closed     # open, closed, local or error; default: the service's
//	                                   # DEFAULT_FAILURE_MODE (open unless set)
//	        shadow_mode: true      # decide and count, but never deny
//	        detailed_metric: true  # metrics per actual value
//
// # Matching
//
// Set.Match walks the descriptor tree level by level exactly as envoy's config_impl.go does: at
// each level the "key_value" node, then the first prefix wildcard declared at that level, then the
// key-only node; no backtracking. The rule applies only when the request's last entry lands on a
// node that has a rate_limit. ApplyReplaces (or Set.MatchAll) then drops rules named in another
// matched rule's replaces, as envoy's service does.
//
// Reference: https://github.com/envoyproxy/ratelimit (README "The configuration format" and
// src/config/config_impl.go).
package rules

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/limit"
)

// Entry is one (key, value) pair of a request descriptor, as envoy sends it.
type Entry struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// FailureMode says what the limiter does with a rule when its store fails. A rule that names
// none has FailureMode ""; the service's default then applies (service.Options.DefaultFailureMode).
type FailureMode string

// The failure modes.
const (
	// FailOpen admits the request (the service's default unless configured otherwise).
	FailOpen FailureMode = "open"
	// FailClosed denies the request.
	FailClosed FailureMode = "closed"
	// FailLocal decides with a process-local limiter until the store is back.
	FailLocal FailureMode = "local"
	// FailError answers the whole request with an error (gRPC UNAVAILABLE, HTTP 503), as envoy
	// ratelimit does when Redis fails, so that the caller's own setting decides: Envoy's
	// failure_mode_deny.
	FailError FailureMode = "error"
)

// FailureModes lists the failure modes.
var FailureModes = []FailureMode{FailOpen, FailClosed, FailLocal, FailError}

// Units maps envoy's unit names (matched case-insensitively, as envoy upper-cases them) to their
// period. Month and year are fixed 30 and 365 days, as in envoy ratelimit's UnitToDivider.
var Units = map[string]time.Duration{
	"second": time.Second,
	"minute": time.Minute,
	"hour":   time.Hour,
	"day":    24 * time.Hour,
	"week":   7 * 24 * time.Hour,
	"month":  30 * 24 * time.Hour,
	"year":   365 * 24 * time.Hour,
}

// unitNames is Units' keys in increasing order, for messages.
var unitNames = []string{"second", "minute", "hour", "day", "week", "month", "year"}

// Rule is one descriptor that carries a rate_limit.
type Rule struct {
	Name   string // rate_limit.name; "" when unnamed
	Domain string
	// Path shows the descriptor for people, e.g. "message_type=marketing > to_number"; a bare key
	// matches any value. Display only: Descriptor is the structured form.
	Path string
	// Descriptor is the configured pattern: Value "" means any value, a trailing "*" a prefix.
	Descriptor []Entry
	// Limit is what the store enforces. Unit gives Period; Algorithm defaults to FixedWindow.
	// Zero when Unlimited. When DenyAll, Requests is 0 and Limit must not be sent to a store.
	Limit limit.Limit
	Unit  string // the unit as configured, lower-cased; "" when Unlimited
	// Unlimited rules always admit, without touching a store (envoy: rate_limit.unlimited).
	Unlimited bool
	// DenyAll rules (requests_per_unit: 0, envoy's blocklist idiom) deny every request without
	// touching a store; ShadowMode still turns the denial into an admission.
	DenyAll        bool
	ShadowMode     bool
	FailureMode    FailureMode // as written; "" when the rule names none
	Replaces       []string    // names of the rules this one replaces when both match
	DetailedMetric bool        // envoy detailed_metric: metrics per actual value
	ValueToMetric  bool        // envoy value_to_metric: the actual value in the metric name
	File           string
	Line           int

	// version changes whenever Limit does; it ends every limiter key (see Set.Match).
	version string
}

// Version is a short fingerprint of Limit (algorithm, requests, period, burst). It is the suffix
// of every limiter key of this rule, so a reload that changes the limit starts fresh counters.
func (r *Rule) Version() string { return r.version }

// RuleInfo is a Rule as JSON, for GET /v1/rules.
type RuleInfo struct {
	Domain          string          `json:"domain"`
	Name            string          `json:"name,omitempty"`
	Path            string          `json:"path"`
	Descriptor      []Entry         `json:"descriptor"`
	Algorithm       limit.Algorithm `json:"algorithm,omitempty"`
	RequestsPerUnit int64           `json:"requests_per_unit"`
	Unit            string          `json:"unit,omitempty"`
	PeriodSeconds   float64         `json:"period_seconds,omitempty"`
	Burst           int64           `json:"burst,omitempty"`
	Unlimited       bool            `json:"unlimited"`
	DenyAll         bool            `json:"deny_all"`
	ShadowMode      bool            `json:"shadow_mode"`
	FailureMode     FailureMode     `json:"failure_mode"`
	Replaces        []string        `json:"replaces,omitempty"`
	DetailedMetric  bool            `json:"detailed_metric"`
	ValueToMetric   bool            `json:"value_to_metric"`
	Version         string          `json:"version"`
	File            string          `json:"file"`
	Line            int             `json:"line"`
}

// Info returns the rule's JSON view.
func (r *Rule) Info() RuleInfo {
	return RuleInfo{
		Domain:          r.Domain,
		Name:            r.Name,
		Path:            r.Path,
		Descriptor:      r.Descriptor,
		Algorithm:       r.Limit.Algorithm,
		RequestsPerUnit: r.Limit.Requests,
		Unit:            r.Unit,
		PeriodSeconds:   r.Limit.Period.Seconds(),
		Burst:           r.Limit.Burst,
		Unlimited:       r.Unlimited,
		DenyAll:         r.DenyAll,
		ShadowMode:      r.ShadowMode,
		FailureMode:     r.FailureMode,
		Replaces:        r.Replaces,
		DetailedMetric:  r.DetailedMetric,
		ValueToMetric:   r.ValueToMetric,
		Version:         r.version,
		File:            r.File,
		Line:            r.Line,
	}
}

// MarshalJSON writes the rule as its RuleInfo.
func (r *Rule) MarshalJSON() ([]byte, error) { return json.Marshal(r.Info()) }

// String is "domain path: 5/day fixed_window (api.yaml:14)" and the like, for logs.
func (r *Rule) String() string {
	var what string
	switch {
	case r.Unlimited:
		what = "unlimited"
	case r.DenyAll:
		what = "deny all"
	default:
		what = fmt.Sprintf("%d/%s %s", r.Limit.Requests, r.Unit, r.Limit.Algorithm)
		if r.Limit.Burst > 0 {
			what += fmt.Sprintf(" burst %d", r.Limit.Burst)
		}
	}
	if r.ShadowMode {
		what += " (shadow)"
	}
	return fmt.Sprintf("%s %s: %s (%s:%d)", r.Domain, r.Path, what, r.File, r.Line)
}

// displayPath renders a descriptor pattern for Rule.Path.
func displayPath(d []Entry) string {
	parts := make([]string, len(d))
	for i, e := range d {
		parts[i] = e.Key
		if e.Value != "" {
			parts[i] += "=" + e.Value
		}
	}
	return strings.Join(parts, " > ")
}
