-- A product is claimed by the first photo whose file is recorded, no longer by a photo only
-- declared. Products claimed so far by declarations alone (none of the owner's photos of them
-- ever had its file recorded) are released, so that a script's squatting of product ids ends.
-- A product whose owner ordered its gallery keeps its owner.
DELETE FROM products p
WHERE p.order_version = 0
  AND NOT EXISTS (
    SELECT 1
    FROM events requested
    JOIN events uploaded
      ON uploaded.aggregate_type = 'Photo'
     AND uploaded.aggregate_id = requested.aggregate_id
     AND uploaded.event_type = 'PhotoUploaded'
    WHERE requested.aggregate_type = 'Photo'
      AND requested.event_type = 'PhotoUploadRequested'
      AND requested.payload->>'product_id' = p.product_id
      AND requested.payload->>'seller_id' = p.seller_id);
