-- Accounts and the one-way contact list (presence fans out to the users who have you as a contact).
CREATE TABLE users (
    id            bigint      PRIMARY KEY,          -- snowflake
    username      text        NOT NULL,
    display_name  text        NOT NULL DEFAULT '',
    password_hash text        NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now()
);
-- Usernames are unique case-insensitively; UserByName looks up lower(username) through it.
CREATE UNIQUE INDEX users_username_lower_key ON users (lower(username));

CREATE TABLE contacts (
    owner_id   bigint      NOT NULL REFERENCES users (id),
    contact_id bigint      NOT NULL REFERENCES users (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (owner_id, contact_id),             -- Contacts(owner)
    CHECK (owner_id <> contact_id)
);
-- Watchers(user): who has user as a contact; covering, so it is an index-only scan.
CREATE INDEX contacts_contact_owner_idx ON contacts (contact_id, owner_id);
