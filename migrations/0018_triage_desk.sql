-- Staff triage: who works on an SR, the portal's first-answer deadline,
-- the first response the customer saw, an out-of-office notice's return
-- date, and each grant's business-day calendar.

-- The staff member working on the SR (part of the queues' filters).
ALTER TABLE service_requests ADD COLUMN assignee_id BIGINT REFERENCES accounts (id);
CREATE INDEX service_requests_assignee ON service_requests (assignee_id) WHERE status <> 'closed';

-- An SR opened on the portal is answered by a technician within 24 hours
-- (the handbook): due until the first staff response, then NULL.
ALTER TABLE service_requests ADD COLUMN first_answer_due TIMESTAMPTZ;
-- The first staff action the customer saw (a message, a verdict, a close).
ALTER TABLE service_requests ADD COLUMN first_response_at TIMESTAMPTZ;
-- The first answer intake sent by itself (the acknowledgement), reported
-- beside the first response, never as it.
ALTER TABLE service_requests ADD COLUMN acknowledged_at TIMESTAMPTZ;
UPDATE service_requests sr SET acknowledged_at = (
    SELECT min(c.at) FROM correspondence c WHERE c.sr_id = sr.id AND c.direction = 'out');
CREATE INDEX service_requests_opened ON service_requests (opened_at);

-- Who composed an outgoing message: NULL for intake itself, else the
-- staff member.
ALTER TABLE correspondence ADD COLUMN actor TEXT;

-- A recorded out-of-office notice stops the SR's clock until this moment
-- (or until the customer answers).
ALTER TABLE service_requests ADD COLUMN away_until TIMESTAMPTZ;

-- The next deadline of any kind, kept by PostgreSQL so the queues, their
-- index and the scheduler read one definition.
ALTER TABLE service_requests ADD COLUMN next_due TIMESTAMPTZ GENERATED ALWAYS AS (
    COALESCE(LEAST(escalation_due, next_update_due, first_answer_due),
             '9999-12-31T00:00:00Z'::timestamptz)) STORED;
DROP INDEX service_requests_next_due;
CREATE INDEX service_requests_next_due ON service_requests (next_due, id)
    WHERE status <> 'closed';
CREATE INDEX service_requests_escalation ON service_requests (escalation_due)
    WHERE status NOT IN ('closed', 'needs_info');
CREATE INDEX service_requests_away ON service_requests (away_until)
    WHERE away_until IS NOT NULL;

-- Business days for contact attempts: weekdays (ISO, 1 = Monday), holidays
-- and a time zone (IANA). NULL: Monday to Friday in UTC.
ALTER TABLE grants ADD COLUMN calendar JSONB;
