-- Conversations, their members with read/delivery receipts, and the append-only message log.
CREATE TABLE conversations (
    id         bigint      PRIMARY KEY,             -- snowflake
    kind       text        NOT NULL CHECK (kind IN ('direct', 'group')),
    title      text        NOT NULL DEFAULT '',
    -- The seq of the newest message. Append increments it with UPDATE ... RETURNING in the
    -- transaction that inserts the message: the row lock serialises appends per conversation
    -- and a rolled-back append gives its number back, so seqs are gapless.
    last_seq   bigint      NOT NULL DEFAULT 0,
    -- The ordered pair of a direct conversation (direct_lo < direct_hi); NULL for groups.
    direct_lo  bigint      REFERENCES users (id),
    direct_hi  bigint      REFERENCES users (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'direct') = (direct_lo IS NOT NULL AND direct_hi IS NOT NULL)),
    CHECK (direct_lo < direct_hi),
    -- One direct conversation per pair: concurrent Direct(a, b) and Direct(b, a) meet here.
    CONSTRAINT conversations_direct_pair_key UNIQUE (direct_lo, direct_hi)
);

CREATE TABLE members (
    conversation_id    bigint      NOT NULL REFERENCES conversations (id),
    user_id            bigint      NOT NULL REFERENCES users (id),
    role               text        NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    last_delivered_seq bigint      NOT NULL DEFAULT 0,
    last_read_seq      bigint      NOT NULL DEFAULT 0,
    joined_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (conversation_id, user_id),        -- Members(conv), Member(conv, user), Append's check
    CHECK (0 <= last_read_seq AND last_read_seq <= last_delivered_seq)
);
-- ConversationsOf(user).
CREATE INDEX members_user_conversation_idx ON members (user_id, conversation_id);

CREATE TABLE messages (
    id              bigint      PRIMARY KEY,       -- snowflake
    conversation_id bigint      NOT NULL REFERENCES conversations (id),
    seq             bigint      NOT NULL CHECK (seq > 0),
    sender_id       bigint      NOT NULL REFERENCES users (id),
    client_msg_id   text        NOT NULL CHECK (octet_length(client_msg_id) BETWEEN 1 AND 64),
    kind            text        NOT NULL CHECK (kind IN ('text', 'edit', 'delete')),
    body            text        NOT NULL CHECK (octet_length(body) <= 4096),
    ref_seq         bigint      NOT NULL DEFAULT 0, -- the seq an edit or delete targets
    created_at      timestamptz NOT NULL DEFAULT now(),
    -- The log's order and its keyset: History and Since walk this index in either direction.
    CONSTRAINT messages_conversation_seq_key UNIQUE (conversation_id, seq),
    -- Idempotent send: a retried client_msg_id conflicts here instead of becoming a second row.
    CONSTRAINT messages_sender_client_msg_id_key UNIQUE (sender_id, client_msg_id)
);
