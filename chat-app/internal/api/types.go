package api

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/chat"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/protocol"
)

// ID is a 64-bit identifier on the wire: a JSON string of decimal digits, as in the WebSocket
// protocol (docs/protocol.md §1), because JavaScript numbers lose integers above 2^53.
type ID = protocol.ID

// Time is a timestamp on the wire: RFC 3339 UTC with milliseconds, as in the protocol.
type Time time.Time

const timeLayout = "2006-01-02T15:04:05.000Z07:00"

// MarshalJSON writes t as "2026-03-01T12:30:45.123Z".
func (t Time) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Time(t).UTC().Format(timeLayout) + `"`), nil
}

// UnmarshalJSON reads an RFC 3339 timestamp.
func (t *Time) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("timestamp must be an RFC 3339 string: %w", err)
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return err
	}
	*t = Time(v)
	return nil
}

// SignupRequest is the body of POST /v1/signup.
type SignupRequest struct {
	Username    string `json:"username"`
	DisplayName string `json:"display_name"`
	Password    string `json:"password"`
}

// LoginRequest is the body of POST /v1/login.
type LoginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// AuthResponse answers signup and login: the user and a bearer token for the API and the gateway.
type AuthResponse struct {
	User      User   `json:"user"`
	Token     string `json:"token"`
	ExpiresAt Time   `json:"expires_at"`
}

// User is an account as others see it (never its password hash).
type User struct {
	ID          ID     `json:"id"`
	Username    string `json:"username"`
	DisplayName string `json:"display_name"`
	CreatedAt   Time   `json:"created_at"`
}

func userOf(u chat.User) User {
	return User{ID: ID(u.ID), Username: u.Username, DisplayName: u.DisplayName, CreatedAt: Time(u.CreatedAt)}
}

// AddContactRequest is the body of POST /v1/contacts.
type AddContactRequest struct {
	Username string `json:"username"`
}

// ContactsResponse lists the caller's contacts.
type ContactsResponse struct {
	Contacts []User `json:"contacts"`
}

// Conversation is a conversation with the caller's own membership: their role and receipts.
type Conversation struct {
	ID               ID     `json:"id"`
	Kind             string `json:"kind"`
	Title            string `json:"title,omitempty"`
	LastSeq          int64  `json:"last_seq"`
	CreatedAt        Time   `json:"created_at"`
	Role             string `json:"role"`
	LastDeliveredSeq int64  `json:"last_delivered_seq"`
	LastReadSeq      int64  `json:"last_read_seq"`
}

func conversationOf(c chat.Conversation, m chat.Member) Conversation {
	return Conversation{
		ID: ID(c.ID), Kind: string(c.Kind), Title: c.Title, LastSeq: c.LastSeq, CreatedAt: Time(c.CreatedAt),
		Role: string(m.Role), LastDeliveredSeq: m.LastDeliveredSeq, LastReadSeq: m.LastReadSeq,
	}
}

// ConversationsResponse lists the caller's conversations.
type ConversationsResponse struct {
	Conversations []Conversation `json:"conversations"`
}

// DirectRequest is the body of POST /v1/conversations/direct.
type DirectRequest struct {
	UserID ID `json:"user_id"`
}

// GroupRequest is the body of POST /v1/conversations/group.
type GroupRequest struct {
	Title     string `json:"title"`
	MemberIDs []ID   `json:"member_ids"`
}

// Member is a user's membership of a conversation with their receipts.
type Member struct {
	UserID           ID     `json:"user_id"`
	Role             string `json:"role"`
	LastDeliveredSeq int64  `json:"last_delivered_seq"`
	LastReadSeq      int64  `json:"last_read_seq"`
	JoinedAt         Time   `json:"joined_at"`
}

func memberOf(m chat.Member) Member {
	return Member{UserID: ID(m.UserID), Role: string(m.Role), LastDeliveredSeq: m.LastDeliveredSeq,
		LastReadSeq: m.LastReadSeq, JoinedAt: Time(m.JoinedAt)}
}

// MembersResponse lists a conversation's members.
type MembersResponse struct {
	Members []Member `json:"members"`
}

// AddMemberRequest is the body of POST /v1/conversations/{id}/members; Role defaults to "member".
type AddMemberRequest struct {
	UserID ID     `json:"user_id"`
	Role   string `json:"role"`
}

// Message is one entry of a conversation's log, with the fields of the protocol's message frame.
type Message struct {
	ID             ID     `json:"id"`
	ConversationID ID     `json:"conversation_id"`
	Seq            int64  `json:"seq"`
	SenderID       ID     `json:"sender_id"`
	ClientMsgID    string `json:"client_msg_id"`
	Kind           string `json:"kind"`
	Body           string `json:"body,omitempty"`
	RefSeq         int64  `json:"ref_seq,omitempty"`
	CreatedAt      Time   `json:"created_at"`
}

func messageOf(m chat.Message) Message {
	return Message{ID: ID(m.ID), ConversationID: ID(m.ConversationID), Seq: m.Seq, SenderID: ID(m.SenderID),
		ClientMsgID: m.ClientMsgID, Kind: string(m.Kind), Body: m.Body, RefSeq: m.RefSeq, CreatedAt: Time(m.CreatedAt)}
}

// MessagesResponse is a page of history, newest first. NextBeforeSeq is the before_seq of the
// next (older) page; it is omitted when there is none.
type MessagesResponse struct {
	Messages      []Message `json:"messages"`
	NextBeforeSeq int64     `json:"next_before_seq,omitempty"`
}

// SendRequest is the body of POST /v1/conversations/{id}/messages. ClientMsgID makes it
// idempotent: a retry with the same one returns the original message.
type SendRequest struct {
	ClientMsgID string `json:"client_msg_id"`
	Body        string `json:"body"`
}
