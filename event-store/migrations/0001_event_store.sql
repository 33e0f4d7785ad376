-- The event store: postgres-es's `events` and `snapshots` tables, with the outbox columns.
--
-- postgres-es inserts into the columns it knows; the outbox columns fill themselves:
--   position        global order of insertion (a tie-breaker within one transaction);
--   transaction_id  the inserting transaction, so a relay can read only below the oldest
--                   transaction still running and never skip a row a slower transaction
--                   commits later;
--   recorded_at     when the row was written;
--   published_at    set by the relay once the bus accepted the event.
CREATE TABLE events
(
    aggregate_type text                         NOT NULL,
    aggregate_id   text                         NOT NULL,
    sequence       bigint CHECK (sequence >= 0) NOT NULL,
    event_type     text                         NOT NULL,
    event_version  text                         NOT NULL,
    payload        jsonb                        NOT NULL,
    metadata       jsonb                        NOT NULL,
    position       bigint GENERATED ALWAYS AS IDENTITY,
    transaction_id xid8        NOT NULL DEFAULT pg_current_xact_id(),
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    published_at   timestamptz,
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
);

-- Unpublished events in commit order; the index holds only what is still to send.
CREATE INDEX events_unpublished ON events (transaction_id, position) WHERE published_at IS NULL;

CREATE TABLE snapshots
(
    aggregate_type   text                                 NOT NULL,
    aggregate_id     text                                 NOT NULL,
    last_sequence    bigint CHECK (last_sequence >= 0)    NOT NULL,
    current_snapshot bigint CHECK (current_snapshot >= 0) NOT NULL,
    payload          jsonb                                NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, last_sequence)
);
