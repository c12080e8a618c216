// Package chat is the domain of the chat system: users, contacts, conversations, members and the
// append-only message log of each conversation, and the Store port that persists them. It is pure:
// adapters (memstore, pgstore) implement Store, and chattest holds the contract they all keep.
//
// Messages carry two identities (docs/adr/0001-message-ids.md): ID, a snowflake unique across the
// system, and Seq, the gapless position 1, 2, 3, … in the conversation. Clients sync by Seq: after
// a reconnect they ask for everything above the last Seq they hold (Store.Since), so nothing is
// lost, and a retried send carries the same ClientMsgID, so nothing is duplicated. Edits and
// deletes are messages too (Kind edit/delete, RefSeq naming the target), so the log stays
// append-only and a client replaying it sees them in order.
package chat

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Errors every Store returns, wrapped with detail where useful; test with errors.Is.
var (
	ErrNotFound  = errors.New("not found")
	ErrExists    = errors.New("already exists")
	ErrNotMember = errors.New("not a member of the conversation")
	ErrForbidden = errors.New("forbidden")
	ErrInvalid   = errors.New("invalid")
)

// Limits of user input.
const (
	MaxBodyBytes        = 4096
	MaxClientMsgIDBytes = 64
	MinUsernameLen      = 3
	MaxUsernameLen      = 32
	MaxDisplayNameBytes = 64
	MaxTitleBytes       = 128
	MaxPageSize         = 200

	// DefaultSendRate and DefaultSendBurst are the per-user abuse limit of sends, edits and
	// deletes: one budget per process for the WebSocket and the HTTP path alike.
	DefaultSendRate  = 10 // per second
	DefaultSendBurst = 30
)

// User is an account.
type User struct {
	ID           int64
	Username     string // unique, case-insensitively
	DisplayName  string
	PasswordHash string
	CreatedAt    time.Time
}

// ConversationKind says whether a conversation is a pair or a group.
type ConversationKind string

// Conversation kinds.
const (
	Direct ConversationKind = "direct"
	Group  ConversationKind = "group"
)

// Conversation is a direct chat between two users or a group.
type Conversation struct {
	ID        int64
	Kind      ConversationKind
	Title     string // empty for direct conversations
	LastSeq   int64  // the Seq of the newest message; 0 when empty
	CreatedAt time.Time
}

// Role is what a member may do in a group.
type Role string

// Roles, strongest first.
const (
	Owner      Role = "owner"  // the creator; cannot leave or be removed
	Admin      Role = "admin"  // adds and removes members; only the owner adds or removes admins
	RoleMember Role = "member" // reads and writes
)

// CanManage reports whether r may add and remove members.
func (r Role) CanManage() bool { return r == Owner || r == Admin }

// Member is a user's membership of a conversation, with its receipts: the highest Seq delivered
// to and read by the user. LastReadSeq <= LastDeliveredSeq <= the conversation's LastSeq.
type Member struct {
	ConversationID   int64
	UserID           int64
	Role             Role
	LastDeliveredSeq int64
	LastReadSeq      int64
	JoinedAt         time.Time
}

// MessageKind is what a message does to the conversation.
type MessageKind string

// Message kinds.
const (
	Text   MessageKind = "text"
	Edit   MessageKind = "edit"   // replaces the body of the text message at RefSeq
	Delete MessageKind = "delete" // retracts the text message at RefSeq
)

// Message is one entry of a conversation's log.
type Message struct {
	ID             int64 // snowflake, assigned by the store
	ConversationID int64
	Seq            int64 // 1, 2, 3, … per conversation, assigned by the store
	SenderID       int64
	ClientMsgID    string // chosen by the sending client; (SenderID, ClientMsgID) is unique
	Kind           MessageKind
	Body           string
	RefSeq         int64 // the Seq an edit or delete targets; 0 for text
	CreatedAt      time.Time
	// MemberRemovals is how many members the conversation had lost (RemoveMember) when this
	// message was stored: set by Append and AppendBatch on the message they create, 0 on
	// messages read back. Gateways compare it with what a session has checked, so a message
	// stored after a user's removal never reaches that user's open sessions (protocol.md §9).
	MemberRemovals int64
}

// Membership is a conversation seen by one of its members.
type Membership struct {
	Conversation Conversation
	Member       Member
}

// AppendResult is the outcome of one message of Store.AppendBatch: what Append would have
// returned for it.
type AppendResult struct {
	Message Message
	Created bool
	Err     error
}

// CheckBatch checks that ms is one conversation's batch (AppendBatch's whole-batch error).
func CheckBatch(ms []Message) error {
	for _, m := range ms[min(1, len(ms)):] {
		if m.ConversationID != ms[0].ConversationID {
			return fmt.Errorf("%w: a batch spans conversations %d and %d", ErrInvalid, ms[0].ConversationID, m.ConversationID)
		}
	}
	return nil
}

// FirstCopies validates each message of a batch (invalid[i] = ValidateMessage(ms[i])) and maps
// it to the index of the first valid message of ms with its (SenderID, ClientMsgID): itself
// unless it repeats an earlier one, which then gets that one's outcome (CopyFirsts).
func FirstCopies(ms []Message) (first []int, invalid []error) {
	first, invalid = make([]int, len(ms)), make([]error, len(ms))
	type key struct {
		sender int64
		client string
	}
	seen := make(map[key]int, len(ms))
	for i, m := range ms {
		first[i] = i
		if invalid[i] = ValidateMessage(m); invalid[i] != nil {
			continue
		}
		k := key{m.SenderID, m.ClientMsgID}
		if j, ok := seen[k]; ok {
			first[i] = j
		} else {
			seen[k] = i
		}
	}
	return first, invalid
}

// CopyFirsts gives each later copy in a batch its first copy's outcome, with Created false: the
// last step of AppendBatch in every store.
func CopyFirsts(out []AppendResult, first []int) {
	for i, j := range first {
		if j != i {
			out[i] = out[j]
			out[i].Created = false
		}
	}
}

// Store persists the domain. Every method takes a context first.
type Store interface {
	// CreateUser stores u with a new ID and CreatedAt and returns it; ErrExists when the
	// username is taken (case-insensitively), ErrInvalid when it breaks ValidateUser.
	CreateUser(ctx context.Context, u User) (User, error)
	// UserByID and UserByName (case-insensitive) return ErrNotFound for unknown users.
	UserByID(ctx context.Context, id int64) (User, error)
	UserByName(ctx context.Context, username string) (User, error)

	// AddContact makes contact a contact of owner; adding one twice is not an error.
	// ErrNotFound for an unknown user, ErrInvalid for oneself.
	AddContact(ctx context.Context, owner, contact int64) error
	// Contacts are owner's contacts, by ID.
	Contacts(ctx context.Context, owner int64) ([]User, error)
	// Watchers are the users who have user as a contact (those who see user's presence), by ID.
	Watchers(ctx context.Context, user int64) ([]int64, error)

	// Direct returns the one direct conversation of a and b, creating it (with both as
	// members) on first use: the same for (a, b) and (b, a), also under concurrent calls.
	// ErrNotFound for an unknown user, ErrInvalid when a == b.
	Direct(ctx context.Context, a, b int64) (Conversation, error)
	// CreateGroup creates a group owned by owner with members (duplicates and owner ignored).
	// ErrNotFound for an unknown user, ErrInvalid for an empty or too long title.
	CreateGroup(ctx context.Context, owner int64, title string, members []int64) (Conversation, error)
	// AddMember adds user to group conv with role (Admin or RoleMember) on behalf of actor:
	// ErrNotMember when actor is not a member, ErrForbidden when actor's role does not allow it
	// (members cannot add; only the owner adds admins), ErrExists when user is already a member,
	// ErrInvalid for a direct conversation or another role, ErrNotFound for an unknown user or
	// conversation.
	AddMember(ctx context.Context, actor, conv, user int64, role Role) error
	// RemoveMember removes user from group conv on behalf of actor. Anyone but the owner may
	// leave (actor == user); otherwise the rules of AddMember apply, and nobody removes the owner.
	RemoveMember(ctx context.Context, actor, conv, user int64) error
	// Members are conv's members, by user ID.
	Members(ctx context.Context, conv int64) ([]Member, error)
	// Member is user's membership of conv: ErrNotMember when there is none.
	Member(ctx context.Context, conv, user int64) (Member, error)
	// ConversationsOf are the conversations user belongs to, by ID, with their LastSeq.
	ConversationsOf(ctx context.Context, user int64) ([]Conversation, error)
	// MembershipsOf are ConversationsOf with user's membership of each (role, receipts), in one
	// read: the conversation list of a client.
	MembershipsOf(ctx context.Context, user int64) ([]Membership, error)
	// CoMembers are the users other than user who share with user at least one conversation of
	// at most maxMembers members, by ID: whose presence user sees pushed, and who see user's
	// (docs/adr/0007-presence-audience.md). A direct conversation always qualifies (maxMembers >= 2).
	CoMembers(ctx context.Context, user int64, maxMembers int) ([]int64, error)
	// MembersAmong are those of users who are members of conv, by ID (an unknown conversation
	// has none): one read to check a batch of IDs, e.g. a presence query.
	MembersAmong(ctx context.Context, conv int64, users []int64) ([]int64, error)

	// Append adds m (Kind, Body, RefSeq, ClientMsgID, ConversationID, SenderID) to its
	// conversation, assigning ID, the next Seq (gapless, also under concurrent appends) and
	// CreatedAt. It is idempotent on (SenderID, ClientMsgID): a retry returns the stored message
	// and created == false, also when retries race each other, and never stores a second row.
	// ErrInvalid when m breaks ValidateMessage or an edit/delete does not target a text message
	// of the same sender in the conversation; ErrNotMember when the sender is not a member.
	Append(ctx context.Context, m Message) (stored Message, created bool, err error)
	// AppendBatch appends ms, all to one conversation, as Append would one after the other with
	// no other append in between: the created ones get consecutive seqs in the order of ms, and
	// a later copy of an earlier valid message's (SenderID, ClientMsgID) in ms gets that one's
	// outcome, with created == false (a client re-sends the same frame). A message's own error (ErrInvalid, ErrNotMember) is in its result
	// and does not affect the others. A non-nil error (ms spans conversations, the store is
	// unavailable) means none was stored. It is the gateway's group commit: n sends to a
	// conversation cost one transaction instead of n.
	AppendBatch(ctx context.Context, ms []Message) ([]AppendResult, error)
	// History returns up to limit (1..MaxPageSize) messages of conv with Seq < beforeSeq, newest
	// first; beforeSeq 0 means from the end. The next page is History(conv, last.Seq, limit).
	History(ctx context.Context, conv, beforeSeq int64, limit int) ([]Message, error)
	// Since returns up to limit (1..MaxPageSize) messages of conv with Seq > afterSeq, oldest
	// first: what a client missed while disconnected.
	Since(ctx context.Context, conv, afterSeq int64, limit int) ([]Message, error)

	// MarkDelivered raises user's LastDeliveredSeq in conv to seq; a lower seq changes nothing.
	// ErrInvalid when seq is negative or above the conversation's LastSeq, ErrNotMember when user
	// is not a member. It returns the membership after the change.
	MarkDelivered(ctx context.Context, conv, user, seq int64) (Member, error)
	// MarkRead is MarkDelivered for LastReadSeq; reading implies delivery, so it raises
	// LastDeliveredSeq as well.
	MarkRead(ctx context.Context, conv, user, seq int64) (Member, error)
}

// ValidateUser checks a new user: a username of MinUsernameLen..MaxUsernameLen ASCII letters,
// digits, '_', '.' or '-', starting with a letter or digit; a display name of at most
// MaxDisplayNameBytes bytes of UTF-8.
func ValidateUser(u User) error {
	n := len(u.Username)
	if n < MinUsernameLen || n > MaxUsernameLen {
		return fmt.Errorf("%w: username must be %d to %d characters", ErrInvalid, MinUsernameLen, MaxUsernameLen)
	}
	for i := range n {
		c := u.Username[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '_' && c != '.' && c != '-') {
			return fmt.Errorf("%w: username may hold only letters, digits, '_', '.', '-' and must start with a letter or digit", ErrInvalid)
		}
	}
	if len(u.DisplayName) > MaxDisplayNameBytes || !utf8.ValidString(u.DisplayName) {
		return fmt.Errorf("%w: display name must be valid UTF-8 of at most %d bytes", ErrInvalid, MaxDisplayNameBytes)
	}
	return nil
}

// ValidateTitle checks a group title: 1..MaxTitleBytes bytes of UTF-8.
func ValidateTitle(title string) error {
	if title == "" || len(title) > MaxTitleBytes || !utf8.ValidString(title) {
		return fmt.Errorf("%w: title must be 1 to %d bytes of UTF-8", ErrInvalid, MaxTitleBytes)
	}
	return nil
}

// ValidateMessage checks what a message says on its own; whether an edit's or delete's target
// exists and belongs to the sender is the store's to check (CheckTarget).
func ValidateMessage(m Message) error {
	if m.ClientMsgID == "" || len(m.ClientMsgID) > MaxClientMsgIDBytes {
		return fmt.Errorf("%w: client_msg_id must be 1 to %d bytes", ErrInvalid, MaxClientMsgIDBytes)
	}
	switch m.Kind {
	case Text, Edit:
		if m.Body == "" {
			return fmt.Errorf("%w: empty body", ErrInvalid)
		}
		if len(m.Body) > MaxBodyBytes {
			return fmt.Errorf("%w: body of %d bytes is over %d", ErrInvalid, len(m.Body), MaxBodyBytes)
		}
		if !utf8.ValidString(m.Body) {
			return fmt.Errorf("%w: body is not UTF-8", ErrInvalid)
		}
	case Delete:
		if m.Body != "" {
			return fmt.Errorf("%w: a delete has no body", ErrInvalid)
		}
	default:
		return fmt.Errorf("%w: message kind %q", ErrInvalid, m.Kind)
	}
	if m.Kind == Text && m.RefSeq != 0 {
		return fmt.Errorf("%w: a text message refers to no seq", ErrInvalid)
	}
	if m.Kind != Text && m.RefSeq <= 0 {
		return fmt.Errorf("%w: an %s must name the seq it targets", ErrInvalid, m.Kind)
	}
	return nil
}

// CheckTarget checks the message an edit or delete m targets (found == false when the
// conversation has no message at m.RefSeq): it must be a text message of the same sender.
func CheckTarget(m Message, target Message, found bool) error {
	if !found {
		return fmt.Errorf("%w: %s of seq %d: no such message", ErrInvalid, m.Kind, m.RefSeq)
	}
	if target.Kind != Text {
		return fmt.Errorf("%w: %s of seq %d: not a text message", ErrInvalid, m.Kind, m.RefSeq)
	}
	if target.SenderID != m.SenderID {
		return fmt.Errorf("%w: %s of seq %d: sent by someone else", ErrInvalid, m.Kind, m.RefSeq)
	}
	return nil
}

// ValidatePage checks a page size.
func ValidatePage(seq int64, limit int) error {
	if limit < 1 || limit > MaxPageSize {
		return fmt.Errorf("%w: limit %d outside 1..%d", ErrInvalid, limit, MaxPageSize)
	}
	if seq < 0 {
		return fmt.Errorf("%w: negative seq %d", ErrInvalid, seq)
	}
	return nil
}

// ValidateRole checks a role AddMember may grant.
func ValidateRole(r Role) error {
	if r != Admin && r != RoleMember {
		return fmt.Errorf("%w: role %q cannot be granted", ErrInvalid, r)
	}
	return nil
}

// CanAdd is the rule of AddMember: managers add members, only the owner adds admins.
func CanAdd(actor, granted Role) error {
	if !actor.CanManage() || granted == Admin && actor != Owner {
		return fmt.Errorf("%w: a %s cannot add a %s", ErrForbidden, actor, granted)
	}
	return nil
}

// CanRemove is the rule of RemoveMember, for actor removing target (self == the same user).
func CanRemove(actor, target Role, self bool) error {
	switch {
	case target == Owner:
		return fmt.Errorf("%w: the owner cannot leave or be removed", ErrForbidden)
	case self:
		return nil
	case !actor.CanManage() || target == Admin && actor != Owner:
		return fmt.Errorf("%w: a %s cannot remove a %s", ErrForbidden, actor, target)
	}
	return nil
}

// CheckReceipt checks a receipt's seq against the conversation's LastSeq.
func CheckReceipt(seq, lastSeq int64) error {
	if seq < 0 || seq > lastSeq {
		return fmt.Errorf("%w: seq %d outside 0..%d", ErrInvalid, seq, lastSeq)
	}
	return nil
}

// DirectPair orders a pair of users: the key of their direct conversation.
func DirectPair(a, b int64) (lo, hi int64, err error) {
	if a == b {
		return 0, 0, fmt.Errorf("%w: a direct conversation needs two users", ErrInvalid)
	}
	return min(a, b), max(a, b), nil
}
