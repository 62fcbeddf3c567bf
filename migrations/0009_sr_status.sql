-- The seven statuses of DESIGN.md: `answered` joins, `resolved` becomes a
-- resolution of a closed SR; reopening goes back to the status it was
-- closed from.
ALTER TABLE service_requests ADD COLUMN resolution TEXT
    CHECK (resolution IN ('resolved', 'no_contact', 'duplicate', 'withdrawn'));
ALTER TABLE service_requests ADD COLUMN closed_from TEXT;
UPDATE service_requests SET status = 'closed', resolution = 'resolved' WHERE status = 'resolved';
UPDATE service_requests SET resolution = 'resolved' WHERE status = 'closed' AND resolution IS NULL;
ALTER TABLE service_requests DROP CONSTRAINT service_requests_status_check;
ALTER TABLE service_requests ADD CONSTRAINT service_requests_status_check
    CHECK (status IN ('open', 'needs_info', 'unverified', 'in_analysis',
                      'awaiting_verdict', 'answered', 'closed'));
ALTER TABLE service_requests ADD CONSTRAINT service_requests_closed_has_resolution
    CHECK ((status = 'closed') = (resolution IS NOT NULL));
