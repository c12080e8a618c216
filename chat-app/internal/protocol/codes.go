package protocol

// ErrorCode is the machine-readable code of an error frame. Clients switch on
// the code; the message is for humans and logs.
type ErrorCode string

// Error codes. Each is documented, with what the client should do, in
// docs/protocol.md.
const (
	// Decoding (returned by Decode).
	CodeUnknownType     ErrorCode = "unknown_type"      // "type" is not a client frame type
	CodeInvalidFrame    ErrorCode = "invalid_frame"     // malformed JSON, unknown/missing/invalid field
	CodeFrameTooLarge   ErrorCode = "frame_too_large"   // frame exceeds MaxFrameBytes
	CodeMessageTooLarge ErrorCode = "message_too_large" // body exceeds MaxBodyBytes

	// Session.
	CodeAuthRequired    ErrorCode = "auth_required"    // a frame other than auth came first; close 4001 follows
	CodeAuthFailed      ErrorCode = "auth_failed"      // bad token; close 4001 follows
	CodeTokenExpired    ErrorCode = "token_expired"    // token expired (at auth or mid-session); close 4001 follows
	CodeUnexpectedFrame ErrorCode = "unexpected_frame" // e.g. a second auth frame

	// Requests.
	CodeNotMember   ErrorCode = "not_member"   // the user is not in that conversation
	CodeInvalidRef  ErrorCode = "invalid_ref"  // ref_seq names no editable message of the conversation
	CodeForbidden   ErrorCode = "forbidden"    // e.g. editing another user's message
	CodeInvalidSeq  ErrorCode = "invalid_seq"  // receipt seq beyond the conversation head
	CodeRateLimited ErrorCode = "rate_limited" // per-user send limit; retry after retry_after_ms
	CodeInternal    ErrorCode = "internal"     // server fault; retry the same frame (sends are idempotent)
)

// CloseCode is a WebSocket close status code (RFC 6455 section 7.4). Codes
// 4000-4999 are private to this protocol.
type CloseCode int

// Close codes used by the gateway.
const (
	CloseNormal           CloseCode = 1000
	CloseGoingAway        CloseCode = 1001
	ClosePolicyViolation  CloseCode = 1008
	CloseMessageTooBig    CloseCode = 1009
	CloseInternalError    CloseCode = 1011
	CloseAuthFailed       CloseCode = 4001
	CloseAuthTimeout      CloseCode = 4002
	CloseHeartbeatTimeout CloseCode = 4003
	CloseSlowConsumer     CloseCode = 4008
	// CloseSessionLimit closes a user's oldest session when a new one would exceed the per-user
	// session cap (docs/protocol.md §12).
	CloseSessionLimit CloseCode = 4009
)

// Reason returns the close reason sent with c. Reasons must stay within the
// 123 bytes a close frame allows.
func (c CloseCode) Reason() string {
	switch c {
	case CloseNormal:
		return "bye"
	case CloseGoingAway:
		return "server going away; reconnect and resync"
	case ClosePolicyViolation:
		return "policy violation"
	case CloseMessageTooBig:
		return "frame exceeds the transport read limit"
	case CloseInternalError:
		return "internal error; reconnect and resync"
	case CloseAuthFailed:
		return "authentication failed or token expired"
	case CloseAuthTimeout:
		return "no auth frame within the deadline"
	case CloseHeartbeatTimeout:
		return "no frame within the heartbeat timeout"
	case CloseSlowConsumer:
		return "send queue full; reconnect and resync"
	case CloseSessionLimit:
		return "too many sessions for this user; the oldest was closed"
	default:
		return ""
	}
}

// Reconnect reports whether a client should reconnect (with backoff) after
// the server closed with c. After 4001 it must first obtain a fresh token.
func (c CloseCode) Reconnect() bool {
	switch c {
	case CloseGoingAway, CloseInternalError, CloseHeartbeatTimeout, CloseSlowConsumer, CloseAuthTimeout:
		return true
	default:
		return false
	}
}
