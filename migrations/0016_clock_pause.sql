-- While an SR waits on the customer (needs_info) its clock stops: since
-- when, so its deadlines move on by the time waited when it runs again.
-- SRs waiting now are taken to have waited since they were opened.
ALTER TABLE service_requests ADD COLUMN clock_paused_at TIMESTAMPTZ;
UPDATE service_requests SET clock_paused_at = opened_at WHERE status = 'needs_info';
