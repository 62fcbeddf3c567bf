-- 100,000 open SRs and 1,000,000 samples for bench/triage_speed.py, with
-- deadlines spread over the next month, exactly 1,000 escalations due at
-- :now, and a few hundred dead-lettered analyses. Run with
--   psql -v now="'2026-12-07T09:00:00Z'" -f bench/triage_data.sql
\set ON_ERROR_STOP on
BEGIN;
INSERT INTO grants (grant_number, company, email_domains, support_level)
SELECT 'G-' || lpad(g::text, 5, '0'), 'Company ' || g, ARRAY['c' || g || '.example'], 'gold'
FROM generate_series(1, 1000) g;

INSERT INTO service_requests (sr_number, grant_number, customer_email, severity, status, tier,
                              opened_at, escalation_due, next_update_due, channel,
                              clock_paused_at)
SELECT 'SR-2026-' || lpad(i::text, 6, '0'),
       'G-' || lpad((1 + i % 1000)::text, 5, '0'),
       'user' || i || '@c' || (1 + i % 1000) || '.example',
       1 + (i % 5),
       CASE WHEN i % 10 = 0 THEN 'needs_info' WHEN i % 10 = 1 THEN 'unverified'
            WHEN i % 10 = 2 THEN 'answered' ELSE 'in_analysis' END,
       'L1',
       :now::timestamptz - (i % 20000) * interval '1 minute',
       -- 1,000 due (the first thousand ids, none waiting), the rest within a month.
       CASE WHEN i <= 1000 AND i % 10 <> 0 THEN :now::timestamptz - (i % 60) * interval '1 minute'
            WHEN i <= 1000 THEN :now::timestamptz + interval '1 day'
            ELSE :now::timestamptz + ((i::bigint * 7919) % 43200) * interval '1 minute' END,
       :now::timestamptz + ((i::bigint * 104729) % 43200) * interval '1 minute' + interval '1 hour',
       CASE WHEN i % 3 = 0 THEN 'portal' ELSE 'email' END,
       CASE WHEN i % 10 = 0 THEN :now::timestamptz - interval '1 hour' END
FROM generate_series(1, 100000) i;
-- The waiting ones among the first thousand are not due: 1,000 due exactly.
UPDATE service_requests SET escalation_due = :now::timestamptz - interval '5 minutes'
WHERE id IN (SELECT id FROM service_requests WHERE escalation_due > :now::timestamptz
             AND status <> 'needs_info' ORDER BY id LIMIT 100);

INSERT INTO inbound (channel, external_id, raw_sha256, raw_size, received_at, state)
SELECT 'email', '<bench-' || i || '@bench.example>', md5(i::text), 1000,
       :now::timestamptz, 'recorded'
FROM generate_series(1, 100000) i;

INSERT INTO submissions (id, inbound_id, sr_id, sender, outcome, verification, metadata, report,
                         created_at)
SELECT md5('sub' || sr.id)::uuid, ib.id, sr.id, sr.customer_email, 'accepted',
       '{"status": "verified"}', '{}', '{}', sr.opened_at
FROM service_requests sr
JOIN inbound ib ON ib.external_id = '<bench-' || sr.id || '@bench.example>';

INSERT INTO samples (sha256, size, kind, first_seen, last_seen)
SELECT encode(sha256(('sample' || i)::bytea), 'hex'), 1000 + i % 5000, 'pe',
       :now::timestamptz, :now::timestamptz
FROM generate_series(1, 1000000) i;

-- Ten samples to each SR.
INSERT INTO submission_samples (submission_id, sha256, path)
SELECT md5('sub' || (1 + (i - 1) / 10))::uuid, encode(sha256(('sample' || i)::bytea), 'hex'),
       'file' || i || '.exe'
FROM generate_series(1, 1000000) i;

-- A provisional verdict for every hundredth sample.
INSERT INTO verdicts (sha256, verdict, reasons, decided_by, decided_at)
SELECT encode(sha256(('sample' || i)::bytea), 'hex'),
       CASE WHEN i % 300 = 0 THEN 'malicious' ELSE 'suspicious' END, '[]', 'analysis',
       :now::timestamptz
FROM generate_series(100, 1000000, 100) i;

-- 300 analyses dead-lettered.
INSERT INTO analysis_jobs (job_id, sha256, submission_id, starts, state, last_error, updated_at)
SELECT md5('job' || i)::uuid, encode(sha256(('sample' || (i * 3001))::bytea), 'hex'),
       md5('sub' || (1 + (i * 3001 - 1) / 10))::uuid, 5, 'dead', 'bench', :now::timestamptz
FROM generate_series(1, 300) i;
COMMIT;
ANALYZE;
