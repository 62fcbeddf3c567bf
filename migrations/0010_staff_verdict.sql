-- Two verdicts, two types (DESIGN.md): analysis proposes malicious,
-- suspicious, clean or unknown; staff answer with malicious (and the
-- detection name), potentially_unwanted or clean. A row decided by staff
-- holds a staff verdict, one decided by analysis a provisional one.
ALTER TABLE verdicts DROP CONSTRAINT verdicts_verdict_check;
ALTER TABLE verdicts ADD COLUMN detection TEXT;
UPDATE verdicts SET verdict = 'potentially_unwanted'
    WHERE decided_by <> 'analysis' AND verdict = 'suspicious';
UPDATE verdicts SET detection = 'unnamed (recorded before detection names)'
    WHERE decided_by <> 'analysis' AND verdict = 'malicious';
ALTER TABLE verdicts ADD CONSTRAINT verdicts_verdict_check CHECK (
    (decided_by = 'analysis' AND verdict IN ('malicious', 'suspicious', 'clean', 'unknown')
        AND detection IS NULL)
    OR (decided_by <> 'analysis' AND verdict IN ('malicious', 'potentially_unwanted', 'clean')
        AND (verdict = 'malicious') = (detection IS NOT NULL)));
