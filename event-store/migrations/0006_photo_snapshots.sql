-- A photo's state at a sequence, so that loading it reads only the events after (see
-- src/store/snapshots.rs). Derived data: rebuilt from the events whenever it is missing or
-- does not read. postgres-es's own snapshot table is not used.
DROP TABLE snapshots;

CREATE TABLE photo_snapshots
(
    photo_id text        PRIMARY KEY,
    sequence bigint      NOT NULL CHECK (sequence > 0),
    state    jsonb       NOT NULL,
    taken_at timestamptz NOT NULL DEFAULT now()
);
