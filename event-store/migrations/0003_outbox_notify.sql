-- Wakes the outbox relays (LISTEN catalog_events) when events are appended, once per
-- statement; the notification is delivered when the transaction commits.
CREATE FUNCTION notify_catalog_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('catalog_events', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER events_notify
    AFTER INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION notify_catalog_events();
