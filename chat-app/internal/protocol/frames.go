package protocol

import "time"

// FrameType is the value of a frame's "type" field.
type FrameType string

// Client → server frame types.
const (
	TypeAuth      FrameType = "auth"
	TypeSync      FrameType = "sync"
	TypeSend      FrameType = "send"
	TypeEdit      FrameType = "edit"
	TypeDelete    FrameType = "delete"
	TypeTyping    FrameType = "typing" // also a server frame type (UserTyping)
	TypeDelivered FrameType = "delivered"
	TypeRead      FrameType = "read"
	TypePing      FrameType = "ping"
	// TypePresenceQuery asks for the presence of named members of a conversation (docs/protocol.md §9).
	TypePresenceQuery FrameType = "presence_query"
)

// Server → client frame types.
const (
	TypeReady    FrameType = "ready"
	TypeMessage  FrameType = "message"
	TypeAck      FrameType = "ack"
	TypeSyncDone FrameType = "sync_done"
	TypeReceipt  FrameType = "receipt"
	TypePresence FrameType = "presence"
	// TypeMembership tells a user's sessions they were added to or removed from a conversation.
	TypeMembership FrameType = "membership"
	TypeError      FrameType = "error"
	TypePong       FrameType = "pong"
)

// Limits of the protocol. The defaults are in DefaultLimits.
const (
	DefaultMaxFrameBytes        = 8 << 10 // one client frame, bytes
	DefaultMaxBodyBytes         = 4096    // a message body, bytes of UTF-8
	DefaultMaxSyncConversations = 100     // cursors in one sync frame
	MaxClientMsgIDBytes         = 64
	MaxTokenBytes               = 4096
	MaxNonceBytes               = 64
	MaxPresenceQueryUsers       = 100 // user_ids in one presence_query frame
)

// Frame is a frame sent by a client; Decode returns one of Auth, Sync, Send,
// Edit, Delete, Typing, Delivered, Read, Ping or PresenceQuery.
type Frame interface {
	FrameType() FrameType
	clientFrame()
}

// ServerFrame is a frame sent by the server: Ready, Message, Ack, SyncDone,
// UserTyping, Receipt, Presence, ErrorFrame or Pong.
type ServerFrame interface {
	FrameType() FrameType
	serverFrame()
}

// Auth must be the first frame of a connection.
type Auth struct {
	Token string `json:"token"`
}

// SyncCursor is the client's last contiguous seq in one conversation.
type SyncCursor struct {
	ConversationID ID    `json:"conversation_id"`
	AfterSeq       int64 `json:"after_seq"`
}

// Sync asks for every message with seq > AfterSeq in each listed
// conversation. More marks a sync split over several frames: live delivery
// of unlisted conversations starts with the first sync frame whose More is
// false (see docs/protocol.md, "Sync").
type Sync struct {
	Conversations []SyncCursor `json:"conversations"`
	More          bool         `json:"more,omitempty"`
}

// Send posts a text message. ClientMsgID makes it idempotent.
type Send struct {
	ConversationID ID     `json:"conversation_id"`
	ClientMsgID    string `json:"client_msg_id"`
	Body           string `json:"body"`
}

// Edit replaces the body of the message at RefSeq (stored as an "edit" event).
type Edit struct {
	ConversationID ID     `json:"conversation_id"`
	ClientMsgID    string `json:"client_msg_id"`
	RefSeq         int64  `json:"ref_seq"`
	Body           string `json:"body"`
}

// Delete retracts the message at RefSeq (stored as a "delete" event).
type Delete struct {
	ConversationID ID     `json:"conversation_id"`
	ClientMsgID    string `json:"client_msg_id"`
	RefSeq         int64  `json:"ref_seq"`
}

// Typing says the user is typing in a conversation; ephemeral.
type Typing struct {
	ConversationID ID `json:"conversation_id"`
}

// Delivered says the client holds every message up to Seq (cumulative).
type Delivered struct {
	ConversationID ID    `json:"conversation_id"`
	Seq            int64 `json:"seq"`
}

// Read says the user has read every message up to Seq (cumulative).
type Read struct {
	ConversationID ID    `json:"conversation_id"`
	Seq            int64 `json:"seq"`
}

// Ping is the application heartbeat; the server answers with Pong.
type Ping struct {
	Nonce string `json:"nonce,omitempty"`
}

// PresenceQuery asks for the current status of up to MaxPresenceQueryUsers members of a
// conversation, each answered with a presence frame: how a client sees presence in a group too
// large for pushed presence.
type PresenceQuery struct {
	ConversationID ID   `json:"conversation_id"`
	UserIDs        []ID `json:"user_ids"`
}

func (PresenceQuery) FrameType() FrameType { return TypePresenceQuery }
func (PresenceQuery) clientFrame()         {}

func (Auth) FrameType() FrameType      { return TypeAuth }
func (Sync) FrameType() FrameType      { return TypeSync }
func (Send) FrameType() FrameType      { return TypeSend }
func (Edit) FrameType() FrameType      { return TypeEdit }
func (Delete) FrameType() FrameType    { return TypeDelete }
func (Typing) FrameType() FrameType    { return TypeTyping }
func (Delivered) FrameType() FrameType { return TypeDelivered }
func (Read) FrameType() FrameType      { return TypeRead }
func (Ping) FrameType() FrameType      { return TypePing }

func (Auth) clientFrame()      {}
func (Sync) clientFrame()      {}
func (Send) clientFrame()      {}
func (Edit) clientFrame()      {}
func (Delete) clientFrame()    {}
func (Typing) clientFrame()    {}
func (Delivered) clientFrame() {}
func (Read) clientFrame()      {}
func (Ping) clientFrame()      {}

// MessageKind distinguishes a message from the events that change one.
type MessageKind string

// Message kinds.
const (
	KindText   MessageKind = "text"
	KindEdit   MessageKind = "edit"
	KindDelete MessageKind = "delete"
)

// ReceiptKind is the kind of a receipt.
type ReceiptKind string

// Receipt kinds.
const (
	ReceiptDelivered ReceiptKind = "delivered"
	ReceiptRead      ReceiptKind = "read"
)

// PresenceStatus is a user's presence.
type PresenceStatus string

// Presence statuses.
const (
	StatusOnline  PresenceStatus = "online"
	StatusAway    PresenceStatus = "away"
	StatusOffline PresenceStatus = "offline"
)

// Ready answers a successful auth.
type Ready struct {
	UserID        ID     `json:"user_id"`
	SessionID     string `json:"session_id"`
	HeartbeatMS   int64  `json:"heartbeat_ms"`
	MaxFrameBytes int    `json:"max_frame_bytes"`
	MaxBodyBytes  int    `json:"max_body_bytes"`
}

// Message is one entry of a conversation's log: a text message or an
// edit/delete event referencing RefSeq. Encode it with AppendMessage.
type Message struct {
	ID             ID          `json:"id"`
	ConversationID ID          `json:"conversation_id"`
	Seq            int64       `json:"seq"`
	SenderID       ID          `json:"sender_id"`
	ClientMsgID    string      `json:"client_msg_id"`
	Kind           MessageKind `json:"kind"`
	Body           string      `json:"body,omitempty"`
	RefSeq         int64       `json:"ref_seq,omitempty"`
	CreatedAt      time.Time   `json:"created_at"`
}

// Ack confirms a send/edit/delete to its sender. Duplicate is true when the
// client_msg_id had already been accepted; ID and Seq are then the original's.
type Ack struct {
	ClientMsgID    string `json:"client_msg_id"`
	ConversationID ID     `json:"conversation_id"`
	ID             ID     `json:"id"`
	Seq            int64  `json:"seq"`
	Duplicate      bool   `json:"duplicate"`
}

// SyncDone ends the gap of one conversation; live messages follow.
type SyncDone struct {
	ConversationID ID    `json:"conversation_id"`
	LastSeq        int64 `json:"last_seq"`
}

// UserTyping tells the other members that a user is typing.
type UserTyping struct {
	ConversationID ID `json:"conversation_id"`
	UserID         ID `json:"user_id"`
}

// Receipt tells the members how far a user has received or read.
type Receipt struct {
	ConversationID ID          `json:"conversation_id"`
	UserID         ID          `json:"user_id"`
	Kind           ReceiptKind `json:"kind"`
	Seq            int64       `json:"seq"`
}

// Presence is a user's status: pushed to their contacts and to the members of their
// conversations up to the presence group limit when it changes, and the answer to a PresenceQuery.
type Presence struct {
	UserID ID             `json:"user_id"`
	Status PresenceStatus `json:"status"`
}

// MembershipChange is what happened to a user's membership.
type MembershipChange string

// Membership changes.
const (
	MembershipAdded   MembershipChange = "added"
	MembershipRemoved MembershipChange = "removed"
)

// Membership is pushed to every session of a user added to or removed from a conversation (group
// created, member added, member removed or left, direct conversation started). After "added" a
// client syncs the conversation (a sync cursor with after_seq 0); after "removed" the server has
// already stopped its live feed of it.
type Membership struct {
	ConversationID ID               `json:"conversation_id"`
	UserID         ID               `json:"user_id"`
	Change         MembershipChange `json:"change"`
}

// ErrorFrame reports a rejected frame. Ref is the client_msg_id of the
// rejected send/edit/delete, or else the type of the rejected frame.
type ErrorFrame struct {
	Code         ErrorCode `json:"code"`
	Message      string    `json:"message"`
	Ref          string    `json:"ref,omitempty"`
	RetryAfterMS int64     `json:"retry_after_ms,omitempty"`
}

// Pong answers a Ping with its nonce.
type Pong struct {
	Nonce string `json:"nonce,omitempty"`
}

func (Ready) FrameType() FrameType      { return TypeReady }
func (Message) FrameType() FrameType    { return TypeMessage }
func (Ack) FrameType() FrameType        { return TypeAck }
func (SyncDone) FrameType() FrameType   { return TypeSyncDone }
func (UserTyping) FrameType() FrameType { return TypeTyping }
func (Receipt) FrameType() FrameType    { return TypeReceipt }
func (Presence) FrameType() FrameType   { return TypePresence }
func (Membership) FrameType() FrameType { return TypeMembership }
func (ErrorFrame) FrameType() FrameType { return TypeError }
func (Pong) FrameType() FrameType       { return TypePong }

func (Ready) serverFrame()      {}
func (Message) serverFrame()    {}
func (Ack) serverFrame()        {}
func (SyncDone) serverFrame()   {}
func (UserTyping) serverFrame() {}
func (Receipt) serverFrame()    {}
func (Presence) serverFrame()   {}
func (Membership) serverFrame() {}
func (ErrorFrame) serverFrame() {}
func (Pong) serverFrame()       {}
