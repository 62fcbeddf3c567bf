-- The mail channel: the SMTP envelope an input came with, the sender checks
-- an upstream MTA recorded, replies completing a needs_info submission, and
-- answers to customers, which wait in the outbox like analysis jobs.

-- {"mail_from": "a@b" | "" (null sender), "rcpt_to": [...], "client": "ip:port",
--  "helo": "..."}; NULL where the input did not come over SMTP/LMTP.
ALTER TABLE inbound ADD COLUMN envelope JSONB;

-- Parsed Authentication-Results of the receiving MTA: {"spf": "pass", ...}.
ALTER TABLE submissions ADD COLUMN sender_auth JSONB NOT NULL DEFAULT '{}';
-- A needs_info submission that a later reply on the same SR completed (or
-- carried forward, if still incomplete): the reply's submission.
ALTER TABLE submissions ADD COLUMN completed_by UUID REFERENCES submissions (id);
CREATE INDEX submissions_open_needs_info ON submissions (sr_id, created_at)
    WHERE outcome = 'needs_info' AND completed_by IS NULL;

-- Answers are sent by the mailer, not the broker relay: it takes kind 'mail.answer'.
CREATE INDEX outbox_pending_mail ON outbox (id) WHERE published_at IS NULL AND kind = 'mail.answer';

-- Where notices about an SR (closed, verdict) go: the latest customer
-- address, language and thread of the SR, as the answer module chose them.
ALTER TABLE service_requests ADD COLUMN correspondent JSONB;
