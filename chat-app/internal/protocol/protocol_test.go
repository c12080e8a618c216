package protocol

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// bigID is above 2^53: as a JavaScript number it would round to ...992.
const bigID ID = 9007199254740993

func TestClientFramesRoundTrip(t *testing.T) {
	t.Parallel()
	frames := []Frame{
		Auth{Token: "eyJhbGciOi.payload.sig"},
		Sync{Conversations: []SyncCursor{{ConversationID: bigID, AfterSeq: 0}, {ConversationID: 7, AfterSeq: 41}}},
		Sync{Conversations: []SyncCursor{{ConversationID: 1, AfterSeq: 9}}, More: true},
		Sync{Conversations: []SyncCursor{}},
		Send{ConversationID: bigID, ClientMsgID: "c-1", Body: "héllo \"quoted\" <b> \n\u2028 😀"},
		Edit{ConversationID: 2, ClientMsgID: "c-2", RefSeq: 5, Body: "fixed"},
		Delete{ConversationID: 2, ClientMsgID: "c-3", RefSeq: 5},
		Typing{ConversationID: 2},
		Delivered{ConversationID: 2, Seq: 10},
		Read{ConversationID: 2, Seq: MaxSafeInteger},
		Ping{},
		Ping{Nonce: "n1"},
		PresenceQuery{ConversationID: 2, UserIDs: []ID{bigID, 7}},
	}
	seen := map[FrameType]bool{}
	for _, f := range frames {
		t.Run(string(f.FrameType()), func(t *testing.T) {
			b, err := EncodeClient(f)
			require.NoError(t, err)
			assert.True(t, strings.HasPrefix(string(b), `{"type":"`+string(f.FrameType())+`"`), string(b))
			got, err := Decode(b)
			require.NoError(t, err, string(b))
			assert.Equal(t, f, got)
		})
		seen[f.FrameType()] = true
	}
	for ft := range clientFields {
		assert.True(t, seen[ft], "no round-trip case for %s", ft)
	}
}

func TestServerFramesRoundTrip(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 1, 12, 30, 45, 123_000_000, time.UTC)
	frames := []ServerFrame{
		Ready{UserID: bigID, SessionID: "s-1", HeartbeatMS: 25000, MaxFrameBytes: 8192, MaxBodyBytes: 4096},
		Message{ID: bigID, ConversationID: bigID + 1, Seq: 42, SenderID: 3, ClientMsgID: "c-1", Kind: KindText, Body: "hi \"there\"\n\x01\u2029", CreatedAt: at},
		Message{ID: 5, ConversationID: 6, Seq: 43, SenderID: 3, ClientMsgID: "c-2", Kind: KindEdit, Body: "hi!", RefSeq: 42, CreatedAt: at},
		Message{ID: 7, ConversationID: 6, Seq: 44, SenderID: 3, ClientMsgID: "c-3", Kind: KindDelete, RefSeq: 42, CreatedAt: at},
		Ack{ClientMsgID: "c-1", ConversationID: bigID, ID: bigID + 2, Seq: 42, Duplicate: true},
		SyncDone{ConversationID: bigID, LastSeq: 42},
		UserTyping{ConversationID: 6, UserID: bigID},
		Receipt{ConversationID: 6, UserID: 3, Kind: ReceiptRead, Seq: 44},
		Presence{UserID: bigID, Status: StatusAway},
		Membership{ConversationID: bigID, UserID: 3, Change: MembershipAdded},
		Membership{ConversationID: 6, UserID: bigID, Change: MembershipRemoved},
		ErrorFrame{Code: CodeRateLimited, Message: "slow down", Ref: "c-9", RetryAfterMS: 1500},
		Pong{Nonce: "n1"},
		Pong{},
	}
	for _, f := range frames {
		t.Run(string(f.FrameType()), func(t *testing.T) {
			b, err := Encode(f)
			require.NoError(t, err)
			require.True(t, json.Valid(b), string(b))
			var env map[string]any
			require.NoError(t, json.Unmarshal(b, &env))
			assert.Equal(t, string(f.FrameType()), env["type"])
			got, err := DecodeServer(b)
			require.NoError(t, err, string(b))
			assert.Equal(t, f, got)
		})
	}
}

func TestIDsTravelAsStrings(t *testing.T) {
	t.Parallel()
	b, err := Encode(Ack{ClientMsgID: "c", ConversationID: bigID, ID: ID(1<<63 - 1), Seq: 1})
	require.NoError(t, err)
	assert.Contains(t, string(b), `"conversation_id":"9007199254740993"`)
	assert.Contains(t, string(b), `"id":"9223372036854775807"`)

	m := Message{ID: bigID, ConversationID: bigID, SenderID: bigID, Seq: 1, ClientMsgID: "c", Kind: KindText, Body: "x"}
	b, err = AppendMessage(nil, &m)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"id":"9007199254740993"`)
	assert.Contains(t, string(b), `"sender_id":"9007199254740993"`)

	f, err := Decode([]byte(`{"type":"typing","conversation_id":"9007199254740993"}`))
	require.NoError(t, err)
	assert.Equal(t, Typing{ConversationID: bigID}, f)
}

func TestIDAsNumberIsRejected(t *testing.T) {
	t.Parallel()
	_, err := Decode([]byte(`{"type":"typing","conversation_id":9007199254740993}`))
	var de *DecodeError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, CodeInvalidFrame, de.Code)
	assert.Equal(t, "conversation_id", de.Field)
	assert.Contains(t, de.Error(), "JSON string")
	assert.Contains(t, de.Error(), "2^53")

	var id ID
	err = json.Unmarshal([]byte(`12`), &id)
	require.Error(t, err)
	require.NoError(t, json.Unmarshal([]byte(`"12"`), &id))
	assert.Equal(t, ID(12), id)
}

func TestDecodeErrors(t *testing.T) {
	t.Parallel()
	long := func(n int) string { return strings.Repeat("a", n) }
	tests := []struct {
		name  string
		frame string
		code  ErrorCode
		field string
		msg   string // substring of Error()
		ref   string
	}{
		{"not json", `{"type":`, CodeInvalidFrame, "", "malformed JSON", ""},
		{"array", `[1,2]`, CodeInvalidFrame, "", "JSON object", ""},
		{"string", `"auth"`, CodeInvalidFrame, "", "JSON object", ""},
		{"empty", ``, CodeInvalidFrame, "", "malformed JSON", ""},
		{"trailing data", `{"type":"ping"} {}`, CodeInvalidFrame, "", "after the JSON object", ""},
		{"invalid utf8", "{\"type\":\"ping\",\"nonce\":\"\xff\"}", CodeInvalidFrame, "", "UTF-8", ""},
		{"duplicate field", `{"type":"ping","type":"auth"}`, CodeInvalidFrame, "", "duplicate field", ""},
		{"missing type", `{"token":"x"}`, CodeInvalidFrame, "type", "missing", ""},
		{"type not string", `{"type":1}`, CodeInvalidFrame, "type", "string", ""},
		{"unknown type", `{"type":"message"}`, CodeUnknownType, "type", "not a client frame type", "message"},
		{"type wrong case", `{"type":"Send"}`, CodeUnknownType, "type", "", "Send"},
		{"unknown field", `{"type":"typing","conversation_id":"1","extra":1}`, CodeInvalidFrame, "extra", "unknown field", "typing"},
		{"field wrong case", `{"type":"typing","Conversation_id":"1"}`, CodeInvalidFrame, "Conversation_id", "unknown field", "typing"},
		{"auth missing token", `{"type":"auth"}`, CodeInvalidFrame, "token", "missing", "auth"},
		{"auth empty token", `{"type":"auth","token":""}`, CodeInvalidFrame, "token", "must not be empty", "auth"},
		{"auth token number", `{"type":"auth","token":5}`, CodeInvalidFrame, "token", "must be a string", "auth"},
		{"auth token null", `{"type":"auth","token":null}`, CodeInvalidFrame, "token", "null", "auth"},
		{"auth token too long", `{"type":"auth","token":"` + long(MaxTokenBytes+1) + `"}`, CodeInvalidFrame, "token", "limit is 4096", "auth"},
		{"send missing conversation", `{"type":"send","client_msg_id":"c1","body":"x"}`, CodeInvalidFrame, "conversation_id", "missing", "c1"},
		{"send id negative number", `{"type":"send","conversation_id":-1,"client_msg_id":"c1","body":"x"}`, CodeInvalidFrame, "conversation_id", "not a number", "c1"},
		{"send id zero", `{"type":"send","conversation_id":"0","client_msg_id":"c1","body":"x"}`, CodeInvalidFrame, "conversation_id", "positive", "c1"},
		{"send id leading zero", `{"type":"send","conversation_id":"012","client_msg_id":"c1","body":"x"}`, CodeInvalidFrame, "conversation_id", "leading zeros", "c1"},
		{"send id not digits", `{"type":"send","conversation_id":"12a","client_msg_id":"c1","body":"x"}`, CodeInvalidFrame, "conversation_id", "decimal digits", "c1"},
		{"send id empty", `{"type":"send","conversation_id":"","client_msg_id":"c1","body":"x"}`, CodeInvalidFrame, "conversation_id", "non-empty", "c1"},
		{"send id overflow", `{"type":"send","conversation_id":"9223372036854775808","client_msg_id":"c1","body":"x"}`, CodeInvalidFrame, "conversation_id", "out of range", "c1"},
		{"send id object", `{"type":"send","conversation_id":{},"client_msg_id":"c1","body":"x"}`, CodeInvalidFrame, "conversation_id", "JSON string", "c1"},
		{"send missing client_msg_id", `{"type":"send","conversation_id":"1","body":"x"}`, CodeInvalidFrame, "client_msg_id", "missing", "send"},
		{"send empty client_msg_id", `{"type":"send","conversation_id":"1","client_msg_id":"","body":"x"}`, CodeInvalidFrame, "client_msg_id", "must not be empty", "send"},
		{"send client_msg_id too long", `{"type":"send","conversation_id":"1","client_msg_id":"` + long(65) + `","body":"x"}`, CodeInvalidFrame, "client_msg_id", "limit is 64", "send"},
		{"send missing body", `{"type":"send","conversation_id":"1","client_msg_id":"c1"}`, CodeInvalidFrame, "body", "missing", "c1"},
		{"send empty body", `{"type":"send","conversation_id":"1","client_msg_id":"c1","body":""}`, CodeInvalidFrame, "body", "must not be empty", "c1"},
		{"send body not string", `{"type":"send","conversation_id":"1","client_msg_id":"c1","body":["x"]}`, CodeInvalidFrame, "body", "must be a string", "c1"},
		{"send body too large", `{"type":"send","conversation_id":"1","client_msg_id":"c1","body":"` + long(4097) + `"}`, CodeMessageTooLarge, "body", "4097 bytes, the limit is 4096", "c1"},
		{"edit missing ref_seq", `{"type":"edit","conversation_id":"1","client_msg_id":"c1","body":"x"}`, CodeInvalidFrame, "ref_seq", "missing", "c1"},
		{"edit ref_seq zero", `{"type":"edit","conversation_id":"1","client_msg_id":"c1","ref_seq":0,"body":"x"}`, CodeInvalidFrame, "ref_seq", "at least 1", "c1"},
		{"edit ref_seq string", `{"type":"edit","conversation_id":"1","client_msg_id":"c1","ref_seq":"3","body":"x"}`, CodeInvalidFrame, "ref_seq", "JSON number", "c1"},
		{"edit ref_seq fraction", `{"type":"edit","conversation_id":"1","client_msg_id":"c1","ref_seq":1.5,"body":"x"}`, CodeInvalidFrame, "ref_seq", "integer", "c1"},
		{"edit ref_seq exponent", `{"type":"edit","conversation_id":"1","client_msg_id":"c1","ref_seq":1e3,"body":"x"}`, CodeInvalidFrame, "ref_seq", "integer", "c1"},
		{"edit ref_seq above 2^53", `{"type":"edit","conversation_id":"1","client_msg_id":"c1","ref_seq":9007199254740992,"body":"x"}`, CodeInvalidFrame, "ref_seq", "2^53-1", "c1"},
		{"delete with body", `{"type":"delete","conversation_id":"1","client_msg_id":"c1","ref_seq":1,"body":"x"}`, CodeInvalidFrame, "body", "unknown field", "delete"},
		{"delivered seq negative", `{"type":"delivered","conversation_id":"1","seq":-4}`, CodeInvalidFrame, "seq", "at least 1", "delivered"},
		{"read missing seq", `{"type":"read","conversation_id":"1"}`, CodeInvalidFrame, "seq", "missing", "read"},
		{"ping nonce too long", `{"type":"ping","nonce":"` + long(65) + `"}`, CodeInvalidFrame, "nonce", "limit is 64", "ping"},
		{"sync missing conversations", `{"type":"sync"}`, CodeInvalidFrame, "conversations", "missing", "sync"},
		{"sync conversations not array", `{"type":"sync","conversations":{}}`, CodeInvalidFrame, "conversations", "array", "sync"},
		{"sync more not bool", `{"type":"sync","conversations":[],"more":1}`, CodeInvalidFrame, "more", "boolean", "sync"},
		{"sync entry not object", `{"type":"sync","conversations":[1]}`, CodeInvalidFrame, "conversations[0]", "JSON object", "sync"},
		{"sync entry unknown field", `{"type":"sync","conversations":[{"conversation_id":"1","after_seq":0,"x":1}]}`, CodeInvalidFrame, "conversations[0].x", "unknown field", "sync"},
		{"sync entry missing after_seq", `{"type":"sync","conversations":[{"conversation_id":"1","after_seq":0},{"conversation_id":"2"}]}`, CodeInvalidFrame, "conversations[1].after_seq", "missing", "sync"},
		{"sync entry negative after_seq", `{"type":"sync","conversations":[{"conversation_id":"1","after_seq":-1}]}`, CodeInvalidFrame, "conversations[0].after_seq", "at least 0", "sync"},
		{"sync entry numeric id", `{"type":"sync","conversations":[{"conversation_id":1,"after_seq":0}]}`, CodeInvalidFrame, "conversations[0].conversation_id", "JSON string", "sync"},
		{"sync duplicate conversation", `{"type":"sync","conversations":[{"conversation_id":"1","after_seq":0},{"conversation_id":"1","after_seq":3}]}`, CodeInvalidFrame, "conversations[1].conversation_id", "listed twice", "sync"},
		{"sync too many", `{"type":"sync","conversations":[` + strings.Repeat(`{"conversation_id":"1","after_seq":0},`, DefaultMaxSyncConversations) + `{"conversation_id":"1","after_seq":0}]}`, CodeInvalidFrame, "conversations", "limit is 100", "sync"},
		{"presence_query missing user_ids", `{"type":"presence_query","conversation_id":"1"}`, CodeInvalidFrame, "user_ids", "missing", "presence_query"},
		{"presence_query user_ids empty", `{"type":"presence_query","conversation_id":"1","user_ids":[]}`, CodeInvalidFrame, "user_ids", "1 to 100", "presence_query"},
		{"presence_query user_ids not array", `{"type":"presence_query","conversation_id":"1","user_ids":"2"}`, CodeInvalidFrame, "user_ids", "array", "presence_query"},
		{"presence_query numeric user id", `{"type":"presence_query","conversation_id":"1","user_ids":["2",3]}`, CodeInvalidFrame, "user_ids[1]", "not a number", "presence_query"},
		{"presence_query user listed twice", `{"type":"presence_query","conversation_id":"1","user_ids":["2","3","2"]}`, CodeInvalidFrame, "user_ids[2]", "listed twice", "presence_query"},
		{"presence_query too many", `{"type":"presence_query","conversation_id":"1","user_ids":[` + strings.Repeat(`"1",`, MaxPresenceQueryUsers) + `"1"]}`, CodeInvalidFrame, "user_ids", "has 101 entries", "presence_query"},
		{"frame too large", `{"type":"send","conversation_id":"1","client_msg_id":"c1","body":"` + long(DefaultMaxFrameBytes) + `"}`, CodeFrameTooLarge, "", "the limit is 8192", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, err := Decode([]byte(tc.frame))
			require.Error(t, err, "decoded %#v", f)
			assert.Nil(t, f)
			var de *DecodeError
			require.True(t, errors.As(err, &de), "%T", err)
			assert.Equal(t, tc.code, de.Code, de.Error())
			assert.Equal(t, tc.field, de.Field, de.Error())
			assert.Contains(t, de.Error(), tc.msg)
			ef := de.Frame()
			assert.Equal(t, tc.code, ef.Code)
			assert.Equal(t, tc.ref, ef.Ref)
			assert.Equal(t, de.Error(), ef.Message)
			b, err := Encode(ef)
			require.NoError(t, err)
			assert.True(t, json.Valid(b))
		})
	}
}

func TestLimitsAreConfigurable(t *testing.T) {
	t.Parallel()
	frame := []byte(`{"type":"send","conversation_id":"1","client_msg_id":"c1","body":"hello world"}`)
	_, err := Limits{MaxFrameBytes: 32}.Decode(frame)
	var de *DecodeError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, CodeFrameTooLarge, de.Code)

	_, err = Limits{MaxBodyBytes: 5}.Decode(frame)
	require.ErrorAs(t, err, &de)
	assert.Equal(t, CodeMessageTooLarge, de.Code)

	f, err := Limits{MaxFrameBytes: len(frame), MaxBodyBytes: 11}.Decode(frame)
	require.NoError(t, err)
	assert.Equal(t, Send{ConversationID: 1, ClientMsgID: "c1", Body: "hello world"}, f)

	sync := []byte(`{"type":"sync","conversations":[{"conversation_id":"1","after_seq":0},{"conversation_id":"2","after_seq":0}]}`)
	_, err = Limits{MaxSyncConversations: 1}.Decode(sync)
	require.ErrorAs(t, err, &de)
	assert.Equal(t, "conversations", de.Field)
}

func TestDecodeAcceptsEscapesAndWhitespace(t *testing.T) {
	t.Parallel()
	f, err := Decode([]byte(" {\n \"t\\u0079pe\" : \"send\", \"conversation_id\":\"5\",\"client_msg_id\":\"c\\u00e9\",\"body\":\"a\\nb\\u2028\"}\n"))
	require.NoError(t, err)
	assert.Equal(t, Send{ConversationID: 5, ClientMsgID: "cé", Body: "a\nb\u2028"}, f)
}

func TestAppendMessageMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	bodies := []string{
		"plain", `quote " backslash \ slash /`, "ctl \x00\x01\x1f\x7f tab\t cr\r nl\n",
		"html <script>&amp;</script>", "emoji 😀 ß 中文", "js line terminators \u2028 \u2029",
		"invalid utf8 \xff\xfe end", "truncated \xe2\x82",
	}
	for _, body := range bodies {
		m := Message{ID: bigID, ConversationID: 2, Seq: 3, SenderID: 4, ClientMsgID: body, Kind: KindText, Body: body,
			CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.FixedZone("x", 3600))}
		b, err := AppendMessage(nil, &m)
		require.NoError(t, err)
		require.True(t, json.Valid(b), "%q", b)
		// encoding/json is the reference decoder: it must read back what
		// encoding/json itself would have written for the same value.
		ref, err := json.Marshal(m)
		require.NoError(t, err)
		var want, got Message
		require.NoError(t, json.Unmarshal(ref, &want))
		require.NoError(t, json.Unmarshal(b, &got))
		assert.Equal(t, want.Body, got.Body, "%q", b)
		assert.Equal(t, want.ClientMsgID, got.ClientMsgID)
		assert.True(t, want.CreatedAt.Equal(got.CreatedAt))
		assert.Contains(t, string(b), `"created_at":"2026-01-02T02:04:05.006Z"`)
	}
}

func TestAppendMessageDoesNotAllocate(t *testing.T) {
	m := benchMessage()
	buf := make([]byte, 0, 1024)
	allocs := testing.AllocsPerRun(100, func() {
		var err error
		buf, err = AppendMessage(buf[:0], &m)
		if err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs)
}

func TestEncodeRejectsInvalid(t *testing.T) {
	t.Parallel()
	_, err := Encode(nil)
	assert.Error(t, err)
	_, err = Encode(Message{Kind: "shout"})
	assert.Error(t, err)
	_, err = Encode(Receipt{Kind: "seen"})
	assert.Error(t, err)
	_, err = Encode(Presence{Status: "busy"})
	assert.Error(t, err)
	_, err = Encode(Membership{Change: "promoted"})
	assert.Error(t, err)
	_, err = EncodeClient(nil)
	assert.Error(t, err)
	_, err = DecodeServer([]byte(`{"type":"hologram"}`))
	assert.ErrorIs(t, err, ErrUnknownServerType)
	_, err = DecodeServer([]byte(`{"type":"ack","id":17}`))
	assert.Error(t, err, "server IDs must be strings too")
}

func TestDecodeServerIgnoresUnknownFields(t *testing.T) {
	t.Parallel()
	f, err := DecodeServer([]byte(`{"type":"presence","user_id":"9","status":"online","since":"later"}`))
	require.NoError(t, err)
	assert.Equal(t, Presence{UserID: 9, Status: StatusOnline}, f)
}

func TestCloseCodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code      CloseCode
		value     int
		reason    string
		reconnect bool
	}{
		{CloseNormal, 1000, "bye", false},
		{CloseGoingAway, 1001, "server going away", true},
		{ClosePolicyViolation, 1008, "policy", false},
		{CloseMessageTooBig, 1009, "read limit", false},
		{CloseInternalError, 1011, "internal", true},
		{CloseAuthFailed, 4001, "authentication failed", false},
		{CloseAuthTimeout, 4002, "no auth frame", true},
		{CloseHeartbeatTimeout, 4003, "heartbeat", true},
		{CloseSlowConsumer, 4008, "send queue full; reconnect and resync", true},
		{CloseSessionLimit, 4009, "too many sessions", false},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.value, int(tc.code))
		assert.Contains(t, tc.code.Reason(), tc.reason)
		assert.LessOrEqual(t, len(tc.code.Reason()), 123, "close reasons are limited to 123 bytes")
		assert.Equal(t, tc.reconnect, tc.code.Reconnect(), "%d", tc.code)
	}
	assert.Empty(t, CloseCode(4999).Reason())
}

func benchMessage() Message {
	return Message{
		ID: 7311740512930889728, ConversationID: 7311740512930889000, Seq: 123456, SenderID: 7311740512930880001,
		ClientMsgID: "0b7c9a0e-3f7d-4c55-9a43-2f0e6f3f9d11", Kind: KindText,
		Body:      strings.Repeat("The quick brown fox jumps over the lazy dog. ", 4) + "Line two\n\"quoted\" 😀",
		CreatedAt: time.Date(2026, 3, 1, 12, 30, 45, 123_000_000, time.UTC),
	}
}

// BenchmarkEncodeMessage is the fan-out hot path: one message frame encoded
// once into a reused buffer, then shared by every recipient.
func BenchmarkEncodeMessage(b *testing.B) {
	m := benchMessage()
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = AppendMessage(buf[:0], &m)
	}
	b.SetBytes(int64(len(buf)))
}

// BenchmarkEncodeMessageStdlib is the encoding/json baseline AppendMessage beats.
func BenchmarkEncodeMessageStdlib(b *testing.B) {
	m := benchMessage()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := marshalTyped(TypeMessage, m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeSend(b *testing.B) {
	frame := []byte(`{"type":"send","conversation_id":"7311740512930889000","client_msg_id":"0b7c9a0e-3f7d-4c55","body":"The quick brown fox jumps over the lazy dog."}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(frame); err != nil {
			b.Fatal(err)
		}
	}
}
