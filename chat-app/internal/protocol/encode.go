package protocol

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// Encode returns the JSON text of a server frame. A Message goes through
// AppendMessage; for the fan-out, encode it once and hand the same bytes to
// every recipient's send queue (the bytes must not be modified afterwards).
func Encode(v ServerFrame) ([]byte, error) {
	switch f := v.(type) {
	case Message:
		return AppendMessage(nil, &f)
	case *Message:
		return AppendMessage(nil, f)
	case Ready:
		return marshalTyped(TypeReady, f)
	case Ack:
		return marshalTyped(TypeAck, f)
	case SyncDone:
		return marshalTyped(TypeSyncDone, f)
	case UserTyping:
		return marshalTyped(TypeTyping, f)
	case Receipt:
		if f.Kind != ReceiptDelivered && f.Kind != ReceiptRead {
			return nil, fmt.Errorf("encode receipt: invalid kind %q", f.Kind)
		}
		return marshalTyped(TypeReceipt, f)
	case Presence:
		switch f.Status {
		case StatusOnline, StatusAway, StatusOffline:
		default:
			return nil, fmt.Errorf("encode presence: invalid status %q", f.Status)
		}
		return marshalTyped(TypePresence, f)
	case Membership:
		if f.Change != MembershipAdded && f.Change != MembershipRemoved {
			return nil, fmt.Errorf("encode membership: invalid change %q", f.Change)
		}
		return marshalTyped(TypeMembership, f)
	case ErrorFrame:
		return marshalTyped(TypeError, f)
	case Pong:
		return marshalTyped(TypePong, f)
	case nil:
		return nil, errors.New("encode: nil frame")
	default:
		return nil, fmt.Errorf("encode: unsupported server frame %T", v)
	}
}

// EncodeClient returns the JSON text of a client frame, for Go clients (tests,
// load generators). Decode(EncodeClient(f)) == f for every valid f.
func EncodeClient(f Frame) ([]byte, error) {
	if f == nil {
		return nil, errors.New("encode: nil frame")
	}
	return marshalTyped(f.FrameType(), f)
}

// marshalTyped marshals v's fields and splices "type" in front of them.
func marshalTyped(t FrameType, v any) ([]byte, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", t, err)
	}
	if len(body) < 2 || body[0] != '{' {
		return nil, fmt.Errorf("encode %s: not a JSON object", t)
	}
	b := make([]byte, 0, len(body)+len(t)+12)
	b = append(b, `{"type":"`...)
	b = append(b, t...)
	b = append(b, '"')
	if len(body) > 2 {
		b = append(b, ',')
	}
	return append(b, body[1:]...), nil
}

// createdAtLayout is RFC 3339 in UTC with millisecond precision: what
// JavaScript's Date parses and produces.
const createdAtLayout = "2006-01-02T15:04:05.000Z07:00"

// AppendMessage appends the message frame for m to dst. It allocates nothing
// beyond growing dst, which is why the fan-out uses it instead of
// encoding/json. The output is the same JSON that DecodeServer reads.
func AppendMessage(dst []byte, m *Message) ([]byte, error) {
	switch m.Kind {
	case KindText, KindEdit, KindDelete:
	default:
		return dst, fmt.Errorf("encode message: invalid kind %q", m.Kind)
	}
	dst = append(dst, `{"type":"message","id":"`...)
	dst = strconv.AppendInt(dst, int64(m.ID), 10)
	dst = append(dst, `","conversation_id":"`...)
	dst = strconv.AppendInt(dst, int64(m.ConversationID), 10)
	dst = append(dst, `","seq":`...)
	dst = strconv.AppendInt(dst, m.Seq, 10)
	dst = append(dst, `,"sender_id":"`...)
	dst = strconv.AppendInt(dst, int64(m.SenderID), 10)
	dst = append(dst, `","client_msg_id":`...)
	dst = appendString(dst, m.ClientMsgID)
	dst = append(dst, `,"kind":"`...)
	dst = append(dst, m.Kind...)
	dst = append(dst, '"')
	if m.Body != "" {
		dst = append(dst, `,"body":`...)
		dst = appendString(dst, m.Body)
	}
	if m.RefSeq != 0 {
		dst = append(dst, `,"ref_seq":`...)
		dst = strconv.AppendInt(dst, m.RefSeq, 10)
	}
	dst = append(dst, `,"created_at":"`...)
	dst = m.CreatedAt.UTC().AppendFormat(dst, createdAtLayout)
	return append(dst, `"}`...), nil
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Like encoding/json it escapes
// control characters, U+2028 and U+2029 (line terminators to JavaScript) and
// replaces invalid UTF-8 with U+FFFD; unlike it, it leaves <, > and & alone,
// which JSON does not require and a WebSocket frame never lands in HTML.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// DecodeServer parses a server frame, for Go clients. Unlike Decode it is
// lenient, as the protocol asks clients to be: unknown fields are ignored so
// the server can add fields. An unknown type yields an error wrapping
// ErrUnknownServerType, which a client should skip rather than treat as fatal.
func DecodeServer(b []byte) (ServerFrame, error) {
	var env struct {
		Type FrameType `json:"type"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, fmt.Errorf("decode server frame: %w", err)
	}
	switch env.Type {
	case TypeReady:
		return decodeInto[Ready](b)
	case TypeMessage:
		return decodeInto[Message](b)
	case TypeAck:
		return decodeInto[Ack](b)
	case TypeSyncDone:
		return decodeInto[SyncDone](b)
	case TypeTyping:
		return decodeInto[UserTyping](b)
	case TypeReceipt:
		return decodeInto[Receipt](b)
	case TypePresence:
		return decodeInto[Presence](b)
	case TypeMembership:
		return decodeInto[Membership](b)
	case TypeError:
		return decodeInto[ErrorFrame](b)
	case TypePong:
		return decodeInto[Pong](b)
	default:
		return nil, fmt.Errorf("decode server frame %q: %w", env.Type, ErrUnknownServerType)
	}
}

// ErrUnknownServerType is wrapped by DecodeServer for a type it does not know.
var ErrUnknownServerType = errors.New("unknown server frame type")

func decodeInto[T ServerFrame](b []byte) (ServerFrame, error) {
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("decode server frame %s: %w", v.FrameType(), err)
	}
	return v, nil
}

// HeartbeatTimeout is how long the server waits for any frame before closing
// with CloseHeartbeatTimeout: two heartbeat intervals.
func HeartbeatTimeout(heartbeat time.Duration) time.Duration { return 2 * heartbeat }

// Timing defaults, see docs/protocol.md.
const (
	AuthTimeout       = 5 * time.Second
	DefaultHeartbeat  = 25 * time.Second
	TypingMinInterval = 3 * time.Second // a client sends typing at most this often per conversation
	TypingTTL         = 6 * time.Second // a client shows "typing" this long after the last event
	AwayAfter         = 5 * time.Minute
	OfflineGrace      = 10 * time.Second
)
