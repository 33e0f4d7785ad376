-- The change feed (`GET /v1/sellers/me/changes`): a seller's events in commit order.
--
-- Each event row carries its photo's seller, set as it is inserted: from the payload of the
-- photo's first event, or from that first event's row for every later one (a photo's seller
-- never changes; a product transfer moves the product, not the photos' authorship). A
-- trigger sets it, so that every writer of the table (a command, a reorder, a transfer)
-- stores it alike.
ALTER TABLE events ADD COLUMN seller_id text;

UPDATE events e SET seller_id = f.payload->>'seller_id' FROM events f
WHERE f.aggregate_type = e.aggregate_type
  AND f.aggregate_id = e.aggregate_id
  AND f.sequence = 1;

CREATE FUNCTION events_seller() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.seller_id IS NULL THEN
        IF NEW.event_type = 'PhotoUploadRequested' THEN
            NEW.seller_id := NEW.payload->>'seller_id';
        ELSE
            -- An earlier row of the same statement is visible here, so a photo's first
            -- events appended together find their seller too.
            SELECT seller_id INTO NEW.seller_id FROM events
            WHERE aggregate_type = NEW.aggregate_type
              AND aggregate_id = NEW.aggregate_id
              AND sequence = 1;
        END IF;
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER events_seller
    BEFORE INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION events_seller();

-- The feed reads a seller's events in commit order: by transaction, then position, only
-- below the oldest transaction still running (as the relay does), so an event committed late
-- can never fall behind a reader's cursor.
CREATE INDEX events_seller_feed ON events (seller_id, transaction_id, position);

-- A feed cursor is an event's position: where a page resumes is found by it.
CREATE UNIQUE INDEX events_position ON events (position);
