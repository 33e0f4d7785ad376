-- Answers to POST requests that carried an `Idempotency-Key`, per seller.
-- A row with no status is a request still being handled (or one that crashed: it may be
-- taken over once it is older than the in-flight timeout).
CREATE TABLE idempotency_keys
(
    seller_id    text        NOT NULL,
    key          text        NOT NULL,
    request_hash bytea       NOT NULL,
    status       smallint,
    body         jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (seller_id, key)
);
