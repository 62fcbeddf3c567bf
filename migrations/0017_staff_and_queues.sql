-- Staff accounts carry a role (analyst, lead, admin); customers none.
ALTER TABLE accounts ADD COLUMN role TEXT CHECK (role IN ('analyst', 'lead', 'admin'));
ALTER TABLE accounts ADD CONSTRAINT accounts_role_of_staff
    CHECK ((realm = 'staff') = (role IS NOT NULL));

-- The queues read open SRs by their next deadline of any kind.
CREATE INDEX service_requests_next_due ON service_requests
    ((COALESCE(LEAST(escalation_due, next_update_due), '9999-12-31T00:00:00Z'::timestamptz)), id)
    WHERE status <> 'closed';
