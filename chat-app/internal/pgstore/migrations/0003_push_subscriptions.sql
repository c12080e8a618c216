-- Web Push subscriptions: one row per browser (PushSubscription.toJSON()), registered through
-- POST /v1/push/subscriptions and read by chat-notifier. The endpoint is the subscription's
-- identity, so it is the key: a browser re-registering under another user moves the row.
CREATE TABLE push_subscriptions (
    endpoint   text        PRIMARY KEY,
    user_id    bigint      NOT NULL REFERENCES users (id),
    p256dh     text        NOT NULL,               -- base64url P-256 public key of the browser
    auth       text        NOT NULL,               -- base64url 16-byte auth secret
    created_at timestamptz NOT NULL DEFAULT now(), -- when last saved
    CHECK (octet_length(endpoint) <= 2048)
);
-- PushSubscriptions(user), oldest first, and the cap of 10 per user (the oldest beyond it go).
CREATE INDEX push_subscriptions_user_created_idx ON push_subscriptions (user_id, created_at);
