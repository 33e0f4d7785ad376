-- Each photo's data key, sealed under the service's key (`src/personal.rs`). The personal
-- fields of the photo's events and snapshot are encrypted under it; deleting the row (the
-- photo's deletion, its seller's erasure) forgets them everywhere at once.
CREATE TABLE photo_keys (
    photo_id   text PRIMARY KEY,
    seller_id  text        NOT NULL,
    sealed     bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- A seller's erasure finds every key of its photos.
CREATE INDEX photo_keys_seller ON photo_keys (seller_id);
