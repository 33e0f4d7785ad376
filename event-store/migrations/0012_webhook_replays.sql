-- Replays of a seller's webhooks (`POST /v1/webhooks/replay`): what the notifier sends again,
-- and how far it got. The notifier walks the seller's change feed from the start, sending each
-- `photo.ready` and `photo.failed` that occurred since `since` and before the replay was asked
-- for; `cursor` is the position of the last change it went past, so a replay that a stopped
-- notifier left is taken up where it was by another (its lease, `claimed_until`, runs out).
CREATE TABLE webhook_replays (
    replay_id     uuid PRIMARY KEY,
    seller_id     text        NOT NULL,
    since         timestamptz NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    cursor        bigint,
    found         integer     NOT NULL DEFAULT 0,
    delivered     integer     NOT NULL DEFAULT 0,
    failed        integer     NOT NULL DEFAULT 0,
    claimed_until timestamptz,
    finished_at   timestamptz
);

-- At most one unfinished replay per seller.
CREATE UNIQUE INDEX webhook_replays_running ON webhook_replays (seller_id) WHERE finished_at IS NULL;
