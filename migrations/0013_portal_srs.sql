-- SRs opened on the portal: the channel, the customer's title, and the
-- account that opened it. Customer updates written on the portal are kept
-- with the SR's correspondence, beside the mail in and out.
ALTER TABLE service_requests ADD COLUMN channel TEXT NOT NULL DEFAULT 'email'
    CHECK (channel IN ('email', 'portal'));
ALTER TABLE service_requests ADD COLUMN title TEXT;
ALTER TABLE service_requests ADD COLUMN opened_by BIGINT REFERENCES accounts (id);
CREATE INDEX service_requests_grant ON service_requests (grant_number, opened_at DESC);
CREATE INDEX service_requests_opened_by ON service_requests (opened_by, opened_at DESC);

ALTER TABLE correspondence ADD COLUMN account_id BIGINT REFERENCES accounts (id);
ALTER TABLE correspondence ADD COLUMN body TEXT;
