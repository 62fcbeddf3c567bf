-- Inputs whose deciding fails are retried a bounded number of times and then
-- parked as `failed` with their reason, for staff to see (`intake inputs
-- failed`). An input being decided carries a lease, so the replay loop (of
-- this or another `intake serve`) never takes it meanwhile.
ALTER TABLE inbound ADD COLUMN attempts INT NOT NULL DEFAULT 0;
ALTER TABLE inbound ADD COLUMN lease_until TIMESTAMPTZ;
ALTER TABLE inbound ADD COLUMN failed_at TIMESTAMPTZ;
CREATE INDEX inbound_pending ON inbound (id) WHERE state = 'received';
CREATE INDEX inbound_failed ON inbound (failed_at) WHERE state = 'failed';

-- The duplicate check and the relay look jobs up by their submission.
CREATE INDEX outbox_submission ON outbox ((payload->>'submission_id'));
