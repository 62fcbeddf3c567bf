-- Staff triage, part 2: the SR desk's actions.

-- Staff asked the customer for information: the clock waits on the
-- customer from then until they answer (mail or portal).
ALTER TABLE service_requests ADD COLUMN info_asked_at timestamptz;

-- The handbook's contact attempts (phone or mail), before an SR may be
-- closed for lack of contact.
CREATE TABLE contact_attempts (
    id      bigserial PRIMARY KEY,
    sr_id   bigint NOT NULL REFERENCES service_requests(id),
    at      timestamptz NOT NULL,
    via     text NOT NULL CHECK (via IN ('phone', 'mail')),
    actor   text NOT NULL,
    note    text
);
CREATE INDEX contact_attempts_sr ON contact_attempts (sr_id, at);

-- Emergency detection packages (the handbook's Extra.DAT): a YARA rule and
-- a hash list for one confirmed malicious sample, kept with the SR.
CREATE TABLE detection_packages (
    id          bigserial PRIMARY KEY,
    sr_id       bigint NOT NULL REFERENCES service_requests(id),
    sha256      text NOT NULL REFERENCES samples(sha256),
    rule_name   text NOT NULL,
    rule        text NOT NULL,
    hash_list   text NOT NULL,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL
);
CREATE INDEX detection_packages_sr ON detection_packages (sr_id, created_at);

-- Staff verdicts feed the reputation table (source 'staff'), so the same
-- file is recognised at once next time; a staff verdict may be
-- potentially unwanted.
ALTER TABLE hash_verdicts DROP CONSTRAINT hash_verdicts_verdict_check;
ALTER TABLE hash_verdicts ADD CONSTRAINT hash_verdicts_verdict_check
    CHECK (verdict IN ('malicious', 'suspicious', 'potentially_unwanted', 'clean'));
