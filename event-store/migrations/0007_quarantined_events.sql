-- Events the relay cannot publish (unreadable, or too large for EventBridge) are set aside,
-- so that every other event keeps flowing: the relay claims only events neither published nor
-- set aside. `catalog quarantined` lists them; `catalog quarantined --release` hands them back
-- to the relay once what stopped them is fixed.
ALTER TABLE events
    ADD COLUMN quarantined_at    timestamptz,
    ADD COLUMN quarantine_reason text;

DROP INDEX events_unpublished;
CREATE INDEX events_unpublished ON events (transaction_id, position)
    WHERE published_at IS NULL AND quarantined_at IS NULL;
CREATE INDEX events_quarantined ON events (position) WHERE quarantined_at IS NOT NULL;
