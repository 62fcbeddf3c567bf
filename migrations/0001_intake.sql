-- intake's schema: entitlements, service requests, what came in, what was
-- decided, the samples and rejected files, an append-only event log and the
-- outbox that feeds RabbitMQ. Every input is recorded in one transaction.

CREATE TABLE grants (
    grant_number    TEXT PRIMARY KEY,
    company         TEXT NOT NULL,
    -- Lower-case domains whose senders may submit under this grant.
    email_domains   TEXT[] NOT NULL DEFAULT '{}',
    support_level   TEXT NOT NULL DEFAULT 'standard',
    expires_on      DATE,
    imported_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE SEQUENCE sr_number_seq;

CREATE TABLE service_requests (
    id              BIGSERIAL PRIMARY KEY,
    -- SR-<year>-<6 digits>, from sr_number_seq.
    sr_number       TEXT NOT NULL UNIQUE,
    grant_number    TEXT REFERENCES grants (grant_number),
    customer_email  TEXT,
    severity        SMALLINT NOT NULL CHECK (severity BETWEEN 1 AND 5),
    status          TEXT NOT NULL DEFAULT 'open'
                    CHECK (status IN ('open', 'needs_info', 'unverified', 'in_analysis',
                                      'awaiting_verdict', 'resolved', 'closed')),
    tier            TEXT NOT NULL DEFAULT 'L1' CHECK (tier IN ('L1', 'L2', 'L3', 'engineering')),
    opened_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    escalated_at    TIMESTAMPTZ,
    closed_at       TIMESTAMPTZ,
    -- When the SR must move to the next tier if still open (support policy).
    escalation_due  TIMESTAMPTZ,
    next_update_due TIMESTAMPTZ
);
CREATE INDEX service_requests_queue ON service_requests (status, severity, escalation_due);

CREATE TABLE inbound (
    id              BIGSERIAL PRIMARY KEY,
    channel         TEXT NOT NULL CHECK (channel IN ('email', 'portal')),
    -- Message-ID for mail, upload id for the portal: the dedup key.
    external_id     TEXT NOT NULL,
    raw_sha256      TEXT NOT NULL,
    raw_size        BIGINT NOT NULL,
    received_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    state           TEXT NOT NULL DEFAULT 'received'
                    CHECK (state IN ('received', 'recorded', 'failed')),
    error           TEXT,
    UNIQUE (channel, external_id)
);

CREATE TABLE submissions (
    id              UUID PRIMARY KEY,
    inbound_id      BIGINT NOT NULL UNIQUE REFERENCES inbound (id),
    sr_id           BIGINT NOT NULL REFERENCES service_requests (id),
    sender          TEXT,
    outcome         TEXT NOT NULL CHECK (outcome IN ('accepted', 'needs_info', 'rejected')),
    -- Grant check: 'verified', or why the submission is held for staff.
    verification    TEXT NOT NULL,
    missing_fields  TEXT[] NOT NULL DEFAULT '{}',
    metadata        JSONB NOT NULL,
    report          JSONB NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX submissions_sr ON submissions (sr_id);

CREATE TABLE samples (
    sha256          TEXT PRIMARY KEY,
    size            BIGINT NOT NULL,
    kind            TEXT NOT NULL,
    first_seen      TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen       TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE submission_samples (
    id              BIGSERIAL PRIMARY KEY,
    submission_id   UUID NOT NULL REFERENCES submissions (id),
    sha256          TEXT NOT NULL REFERENCES samples (sha256),
    path            TEXT NOT NULL,
    warnings        JSONB NOT NULL DEFAULT '[]'
);
CREATE INDEX submission_samples_submission ON submission_samples (submission_id);
CREATE INDEX submission_samples_sha ON submission_samples (sha256);

CREATE TABLE rejected_items (
    id              BIGSERIAL PRIMARY KEY,
    submission_id   UUID NOT NULL REFERENCES submissions (id),
    path            TEXT NOT NULL,
    -- NULL where the bytes were not read in full; they remain in the raw input.
    sha256          TEXT,
    size            BIGINT NOT NULL,
    reason          TEXT NOT NULL,
    detail          TEXT NOT NULL
);
CREATE INDEX rejected_items_submission ON rejected_items (submission_id);

CREATE TABLE events (
    id              BIGSERIAL PRIMARY KEY,
    at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    actor           TEXT NOT NULL,
    sr_id           BIGINT REFERENCES service_requests (id),
    submission_id   UUID REFERENCES submissions (id),
    kind            TEXT NOT NULL,
    detail          JSONB NOT NULL DEFAULT '{}'
);
CREATE INDEX events_sr ON events (sr_id, at);

-- The log is append-only: history is evidence.
CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are append-only';
END $$;
CREATE TRIGGER events_no_update BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_append_only();

CREATE TABLE outbox (
    id              BIGSERIAL PRIMARY KEY,
    kind            TEXT NOT NULL,
    routing_key     TEXT NOT NULL,
    -- AMQP priority (0-9): higher is taken first.
    priority        SMALLINT NOT NULL DEFAULT 0,
    payload         JSONB NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    published_at    TIMESTAMPTZ,
    attempts        INT NOT NULL DEFAULT 0,
    last_error      TEXT
);
CREATE INDEX outbox_pending ON outbox (id) WHERE published_at IS NULL;

CREATE TABLE findings (
    id               BIGSERIAL PRIMARY KEY,
    sha256           TEXT NOT NULL REFERENCES samples (sha256),
    analyser         TEXT NOT NULL,
    analyser_version TEXT NOT NULL,
    result           JSONB NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (sha256, analyser, analyser_version)
);
