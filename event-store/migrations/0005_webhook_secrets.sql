-- Each seller's webhook signing secrets, sealed (AES-256-GCM under the webhook data key, see
-- src/webhook_secrets.rs): the newest signs; the one before it signs beside it for a day after
-- a rotation; older ones are deleted.
CREATE TABLE webhook_secrets
(
    seller_id  text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    sealed     bytea       NOT NULL,
    PRIMARY KEY (seller_id, created_at)
);
