-- A submission's verification is data (sr::Verification): verified under
-- which grant, or why not, tagged by "status". It used to be prose; each
-- prose form the code ever wrote is read back into its fields. A form not
-- listed here leaves NULL and the NOT NULL column stops the migration, so
-- nothing is silently mislabelled.
ALTER TABLE submissions ALTER COLUMN verification TYPE JSONB USING (
    CASE
        WHEN verification = 'verified' THEN
            jsonb_build_object('status', 'verified',
                               'grant', btrim(coalesce(metadata->>'grant_number', '')))
        WHEN verification = 'unverified: no grant number given' THEN
            '{"status": "no_grant_number"}'::jsonb
        WHEN verification = 'unverified: no sender address' THEN
            '{"status": "no_sender"}'::jsonb
        WHEN verification ~ '^unverified: unknown grant number ".*"$' THEN
            jsonb_build_object('status', 'unknown_grant', 'grant',
                (regexp_match(verification, '^unverified: unknown grant number "(.*)"$'))[1])
        WHEN verification ~ '^unverified: grant .* expired on \d{4}-\d{2}-\d{2}$' THEN
            jsonb_build_object('status', 'expired',
                'grant', (regexp_match(verification, '^unverified: grant (.*) expired on'))[1],
                'on', (regexp_match(verification, 'expired on (\d{4}-\d{2}-\d{2})$'))[1])
        WHEN verification ~ '^unverified: .* is not registered for grant .*$' THEN
            jsonb_build_object('status', 'domain_not_registered',
                'domain', (regexp_match(verification, '^unverified: (.*) is not registered for grant'))[1],
                'grant', (regexp_match(verification, 'is not registered for grant (.*)$'))[1])
        WHEN verification ~ '^unverified: names SR-\d{4}-\d{6} without proof it comes from the customer \(.*\)$' THEN
            jsonb_build_object('status', 'unproven_reply',
                'sr', (regexp_match(verification, '^unverified: names (SR-\d{4}-\d{6})'))[1],
                'why', (regexp_match(verification, 'from the customer \((.*)\)$'))[1])
    END);

-- Which grant a submission was verified under, for the portal's company
-- views and staff queues.
CREATE INDEX submissions_verified_grant ON submissions ((verification->>'grant'))
    WHERE verification->>'status' = 'verified';
