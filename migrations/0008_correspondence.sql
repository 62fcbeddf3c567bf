-- Each SR's correspondence, in and out, kept by the SR: the answers mailed
-- used to live only in the outbox payload, which is pruned once sent (after
-- `outbox_retention_days`). The portal and the SR page read this table.
CREATE TABLE correspondence (
    id              BIGSERIAL PRIMARY KEY,
    sr_id           BIGINT NOT NULL REFERENCES service_requests (id),
    submission_id   UUID REFERENCES submissions (id),
    direction       TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    at              TIMESTAMPTZ NOT NULL,
    -- in: the message as received (its raw bytes stay in the blob store).
    inbound_id      BIGINT REFERENCES inbound (id),
    sender          TEXT,
    subject         TEXT,
    message_id      TEXT,
    -- out: the composed answer (to, subject, body, language, thread).
    answer          JSONB,
    outbox_id       BIGINT REFERENCES outbox (id) ON DELETE SET NULL
);
CREATE INDEX correspondence_sr ON correspondence (sr_id, at);

-- A submission's queued jobs, so a redelivered input is answered without
-- counting outbox rows (which are pruned).
ALTER TABLE submissions ADD COLUMN jobs INT NOT NULL DEFAULT 0;

-- Pruning walks sent rows by age.
CREATE INDEX outbox_sent ON outbox (published_at) WHERE published_at IS NOT NULL;
