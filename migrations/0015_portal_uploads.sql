-- Portal uploads as the quota counts them: per grant, when, how many bytes,
-- and whether the upload counts (a re-upload of samples already analysed
-- is answered from their findings and does not).
CREATE TABLE portal_uploads (
    id            BIGSERIAL PRIMARY KEY,
    grant_number  TEXT NOT NULL,
    account_id    BIGINT NOT NULL REFERENCES accounts (id),
    at            TIMESTAMPTZ NOT NULL,
    bytes         BIGINT NOT NULL CHECK (bytes >= 0),
    counted       BOOLEAN NOT NULL,
    submission_id UUID REFERENCES submissions (id)
);
CREATE INDEX portal_uploads_grant ON portal_uploads (grant_number, at) WHERE counted;

-- Which archives the customer's own passwords opened (path, and the
-- password's place in their list): for staff, never shown back.
ALTER TABLE submissions ADD COLUMN opened_with JSONB NOT NULL DEFAULT '[]';
