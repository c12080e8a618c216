package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"
)

// Limits bounds what Decode accepts. A zero field takes its default.
type Limits struct {
	MaxFrameBytes        int // default DefaultMaxFrameBytes
	MaxBodyBytes         int // default DefaultMaxBodyBytes
	MaxSyncConversations int // default DefaultMaxSyncConversations
}

// DefaultLimits returns the limits documented in docs/protocol.md.
func DefaultLimits() Limits {
	return Limits{
		MaxFrameBytes:        DefaultMaxFrameBytes,
		MaxBodyBytes:         DefaultMaxBodyBytes,
		MaxSyncConversations: DefaultMaxSyncConversations,
	}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxFrameBytes <= 0 {
		l.MaxFrameBytes = d.MaxFrameBytes
	}
	if l.MaxBodyBytes <= 0 {
		l.MaxBodyBytes = d.MaxBodyBytes
	}
	if l.MaxSyncConversations <= 0 {
		l.MaxSyncConversations = d.MaxSyncConversations
	}
	return l
}

// DecodeError is why Decode rejected a frame. Send its Frame() to the client.
type DecodeError struct {
	Code   ErrorCode
	Type   FrameType // the frame's type when it was readable
	Field  string    // the offending field, e.g. "body" or "conversations[2].after_seq"
	Reason string
	Ref    string // client_msg_id when readable, else Type
}

func (e *DecodeError) Error() string {
	var b []byte
	b = append(b, e.Code...)
	if e.Type != "" {
		b = append(b, " in "...)
		b = append(b, e.Type...)
		b = append(b, " frame"...)
	}
	b = append(b, ": "...)
	if e.Field != "" {
		b = append(b, "field "...)
		b = append(b, e.Field...)
		b = append(b, ": "...)
	}
	b = append(b, e.Reason...)
	return string(b)
}

// Frame returns the error frame that answers the rejected frame.
func (e *DecodeError) Frame() ErrorFrame {
	return ErrorFrame{Code: e.Code, Message: e.Error(), Ref: e.Ref}
}

// Decode parses one client frame with DefaultLimits.
func Decode(b []byte) (Frame, error) { return DefaultLimits().Decode(b) }

// Decode parses one client frame strictly: the frame must be a single JSON
// object of valid UTF-8 no larger than MaxFrameBytes, with a known "type",
// no unknown or duplicate fields, and every field present and valid. Errors
// are *DecodeError.
func (l Limits) Decode(b []byte) (Frame, error) {
	l = l.withDefaults()
	if len(b) > l.MaxFrameBytes {
		return nil, &DecodeError{Code: CodeFrameTooLarge,
			Reason: fmt.Sprintf("frame is %d bytes, the limit is %d", len(b), l.MaxFrameBytes)}
	}
	if !utf8.Valid(b) {
		return nil, &DecodeError{Code: CodeInvalidFrame, Reason: "frame is not valid UTF-8"}
	}
	obj, err := parseObject(b)
	if err != nil {
		return nil, &DecodeError{Code: CodeInvalidFrame, Reason: err.Error()}
	}
	rawType, ok := obj["type"]
	if !ok {
		return nil, &DecodeError{Code: CodeInvalidFrame, Field: "type", Reason: "missing"}
	}
	var t string
	if err := json.Unmarshal(rawType, &t); err != nil || rawType[0] != '"' {
		return nil, &DecodeError{Code: CodeInvalidFrame, Field: "type", Reason: "must be a string"}
	}
	ft := FrameType(t)
	spec, ok := clientFields[ft]
	if !ok {
		return nil, &DecodeError{Code: CodeUnknownType, Field: "type", Reason: strconv.Quote(t) + " is not a client frame type", Ref: clip(t)}
	}
	d := fieldDecoder{obj: obj, limits: l, err: DecodeError{Type: ft, Ref: string(ft)}}
	if f := d.unknownField(spec); f != "" {
		return nil, d.fail(CodeInvalidFrame, f, "unknown field")
	}
	var fr Frame
	switch ft {
	case TypeAuth:
		fr = Auth{Token: d.str("token", 1, MaxTokenBytes, true)}
	case TypeSync:
		fr = d.sync()
	case TypeSend:
		cmid := d.clientMsgID()
		fr = Send{ConversationID: d.id("conversation_id"), ClientMsgID: cmid, Body: d.body()}
	case TypeEdit:
		cmid := d.clientMsgID()
		fr = Edit{ConversationID: d.id("conversation_id"), ClientMsgID: cmid, RefSeq: d.seq("ref_seq", 1), Body: d.body()}
	case TypeDelete:
		cmid := d.clientMsgID()
		fr = Delete{ConversationID: d.id("conversation_id"), ClientMsgID: cmid, RefSeq: d.seq("ref_seq", 1)}
	case TypeTyping:
		fr = Typing{ConversationID: d.id("conversation_id")}
	case TypeDelivered:
		fr = Delivered{ConversationID: d.id("conversation_id"), Seq: d.seq("seq", 1)}
	case TypeRead:
		fr = Read{ConversationID: d.id("conversation_id"), Seq: d.seq("seq", 1)}
	case TypePing:
		fr = Ping{Nonce: d.str("nonce", 0, MaxNonceBytes, false)}
	case TypePresenceQuery:
		fr = PresenceQuery{ConversationID: d.id("conversation_id"), UserIDs: d.ids("user_ids", MaxPresenceQueryUsers)}
	}
	if d.failed != nil {
		return nil, d.failed
	}
	return fr, nil
}

// clientFields lists the fields each client frame type allows, besides "type".
var clientFields = map[FrameType][]string{
	TypeAuth:      {"token"},
	TypeSync:      {"conversations", "more"},
	TypeSend:      {"conversation_id", "client_msg_id", "body"},
	TypeEdit:      {"conversation_id", "client_msg_id", "ref_seq", "body"},
	TypeDelete:    {"conversation_id", "client_msg_id", "ref_seq"},
	TypeTyping:    {"conversation_id"},
	TypeDelivered: {"conversation_id", "seq"},
	TypeRead:      {"conversation_id", "seq"},
	TypePing:      {"nonce"},

	TypePresenceQuery: {"conversation_id", "user_ids"},
}

var errTrailing = errors.New("unexpected data after the JSON object")

// parseObject splits one JSON object into its raw members, rejecting
// duplicate keys (encoding/json would silently keep the last) and trailing data.
func parseObject(b []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("malformed JSON: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("frame must be a JSON object")
	}
	obj := make(map[string]json.RawMessage, 4)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("malformed JSON: %w", err)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, errors.New("malformed JSON: object key is not a string")
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("malformed JSON: %w", err)
		}
		if _, dup := obj[key]; dup {
			return nil, fmt.Errorf("duplicate field %s", strconv.Quote(clip(key)))
		}
		obj[key] = v
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("malformed JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errTrailing
	}
	return obj, nil
}

// fieldDecoder reads typed fields and keeps the first error, so a frame
// decoder reads straight through and checks once.
type fieldDecoder struct {
	obj    map[string]json.RawMessage
	limits Limits
	prefix string
	err    DecodeError // template: Type and Ref
	failed *DecodeError
}

func (d *fieldDecoder) fail(code ErrorCode, field, reason string) *DecodeError {
	if d.failed == nil {
		e := d.err
		e.Code, e.Field, e.Reason = code, d.prefix+field, reason
		d.failed = &e
	}
	return d.failed
}

func (d *fieldDecoder) unknownField(allowed []string) string {
	var unknown string
	for k := range d.obj {
		if k == "type" && d.prefix == "" {
			continue
		}
		if !contains(allowed, k) && (unknown == "" || k < unknown) {
			unknown = k // the smallest, so the error is deterministic
		}
	}
	return clip(unknown)
}

func contains[T comparable](s []T, v T) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func (d *fieldDecoder) raw(name string, required bool) (json.RawMessage, bool) {
	v, ok := d.obj[name]
	if !ok {
		if required {
			d.fail(CodeInvalidFrame, name, "missing")
		}
		return nil, false
	}
	if string(v) == "null" {
		d.fail(CodeInvalidFrame, name, "must not be null")
		return nil, false
	}
	return v, true
}

func (d *fieldDecoder) id(name string) ID {
	v, ok := d.raw(name, true)
	if !ok {
		return 0
	}
	id, err := parseID(v)
	if err != nil {
		d.fail(CodeInvalidFrame, name, err.Error())
	}
	return id
}

// ids reads a non-empty array of at most limit distinct IDs.
func (d *fieldDecoder) ids(name string, limit int) []ID {
	v, ok := d.raw(name, true)
	if !ok {
		return nil
	}
	var items []json.RawMessage
	if v[0] != '[' || json.Unmarshal(v, &items) != nil {
		d.fail(CodeInvalidFrame, name, "must be an array")
		return nil
	}
	if len(items) == 0 || len(items) > limit {
		d.fail(CodeInvalidFrame, name, fmt.Sprintf("has %d entries, it must have 1 to %d", len(items), limit))
		return nil
	}
	out := make([]ID, 0, len(items))
	for i, item := range items {
		field := name + "[" + strconv.Itoa(i) + "]"
		id, err := parseID(item)
		switch {
		case err != nil:
			d.fail(CodeInvalidFrame, field, err.Error())
			return nil
		case contains(out, id):
			d.fail(CodeInvalidFrame, field, id.String()+" is listed twice")
			return nil
		}
		out = append(out, id)
	}
	return out
}

// seq reads a sequence number: a JSON integer in [min, MaxSafeInteger].
func (d *fieldDecoder) seq(name string, min int64) int64 {
	v, ok := d.raw(name, true)
	if !ok {
		return 0
	}
	if v[0] == '"' {
		d.fail(CodeInvalidFrame, name, "must be a JSON number, not a string")
		return 0
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil || n > MaxSafeInteger {
		d.fail(CodeInvalidFrame, name, fmt.Sprintf("must be an integer between %d and 2^53-1", min))
		return 0
	}
	if n < min {
		d.fail(CodeInvalidFrame, name, fmt.Sprintf("must be at least %d", min))
		return 0
	}
	return n
}

// str reads a string whose UTF-8 length is within [min, max] bytes.
func (d *fieldDecoder) str(name string, min, max int, required bool) string {
	v, ok := d.raw(name, required)
	if !ok {
		return ""
	}
	var s string
	if v[0] != '"' || json.Unmarshal(v, &s) != nil {
		d.fail(CodeInvalidFrame, name, "must be a string")
		return ""
	}
	switch {
	case len(s) < min && min == 1:
		d.fail(CodeInvalidFrame, name, "must not be empty")
	case len(s) < min:
		d.fail(CodeInvalidFrame, name, fmt.Sprintf("must be at least %d bytes", min))
	case len(s) > max:
		d.fail(CodeInvalidFrame, name, fmt.Sprintf("is %d bytes, the limit is %d", len(s), max))
	}
	return s
}

// clientMsgID reads client_msg_id and, when valid, makes it the error ref.
func (d *fieldDecoder) clientMsgID() string {
	s := d.str("client_msg_id", 1, MaxClientMsgIDBytes, true)
	if d.failed == nil {
		d.err.Ref = s
	}
	return s
}

func (d *fieldDecoder) body() string {
	v, ok := d.raw("body", true)
	if !ok {
		return ""
	}
	var s string
	if v[0] != '"' || json.Unmarshal(v, &s) != nil {
		d.fail(CodeInvalidFrame, "body", "must be a string")
		return ""
	}
	if s == "" {
		d.fail(CodeInvalidFrame, "body", "must not be empty")
		return ""
	}
	if len(s) > d.limits.MaxBodyBytes {
		d.fail(CodeMessageTooLarge, "body",
			fmt.Sprintf("is %d bytes, the limit is %d", len(s), d.limits.MaxBodyBytes))
		return ""
	}
	return s
}

func (d *fieldDecoder) sync() Sync {
	var s Sync
	if v, ok := d.raw("more", false); ok {
		if string(v) != "true" && string(v) != "false" {
			d.fail(CodeInvalidFrame, "more", "must be a boolean")
		}
		s.More = string(v) == "true"
	}
	v, ok := d.raw("conversations", true)
	if !ok {
		return s
	}
	var items []json.RawMessage
	if v[0] != '[' || json.Unmarshal(v, &items) != nil {
		d.fail(CodeInvalidFrame, "conversations", "must be an array")
		return s
	}
	if len(items) > d.limits.MaxSyncConversations {
		d.fail(CodeInvalidFrame, "conversations", fmt.Sprintf("has %d entries, the limit is %d; split it into frames with \"more\": true",
			len(items), d.limits.MaxSyncConversations))
		return s
	}
	s.Conversations = make([]SyncCursor, 0, len(items))
	seen := make(map[ID]bool, len(items))
	for i, item := range items {
		prefix := "conversations[" + strconv.Itoa(i) + "]"
		obj, err := parseObject(item)
		if err != nil {
			d.fail(CodeInvalidFrame, prefix, err.Error())
			return s
		}
		sub := fieldDecoder{obj: obj, limits: d.limits, prefix: prefix + ".", err: d.err}
		if f := sub.unknownField([]string{"conversation_id", "after_seq"}); f != "" {
			sub.fail(CodeInvalidFrame, f, "unknown field")
		}
		c := SyncCursor{ConversationID: sub.id("conversation_id"), AfterSeq: sub.seq("after_seq", 0)}
		if sub.failed == nil && seen[c.ConversationID] {
			sub.fail(CodeInvalidFrame, "conversation_id", "conversation "+c.ConversationID.String()+" is listed twice")
		}
		if sub.failed != nil {
			d.failed = sub.failed
			return s
		}
		seen[c.ConversationID] = true
		s.Conversations = append(s.Conversations, c)
	}
	return s
}

// clip bounds client-controlled text echoed in error messages.
func clip(s string) string {
	const n = 64
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}
