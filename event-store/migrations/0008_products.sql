-- Who owns each product: the seller who first added a photo to it. The events are the truth
-- (each PhotoUploadRequested names its seller and product); this table is the unique index
-- over them that makes a claim race-safe. The statement that appends a new photo's events
-- claims its product here in the same breath, and appends nothing unless the photo's seller
-- is the owner: two sellers racing for a new product leave exactly one owner.
CREATE TABLE products (
    product_id    text PRIMARY KEY,
    seller_id     text NOT NULL,
    claimed_at    timestamptz NOT NULL DEFAULT now(),
    -- reorders of the product's gallery stored so far: the `version` a reorder answers with
    order_version bigint NOT NULL DEFAULT 0
);

-- Photos stored before products had owners: each product goes to the seller of its first
-- photo (`catalog rebuild` reports products that more than one seller had photos of).
INSERT INTO products (product_id, seller_id, claimed_at)
SELECT DISTINCT ON (payload->>'product_id') payload->>'product_id', payload->>'seller_id', recorded_at
FROM events
WHERE aggregate_type = 'Photo' AND event_type = 'PhotoUploadRequested'
ORDER BY payload->>'product_id', position;

-- A product's photos, for a reorder.
CREATE INDEX events_product_photos ON events ((payload->>'product_id'))
    WHERE aggregate_type = 'Photo' AND event_type = 'PhotoUploadRequested';
