-- Idempotency keys are kept for a day (see api/idempotency.rs); the write API deletes older
-- ones in the background, by age.
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
