-- Known hashes (the lab's own verdicts and imported lists) and the
-- provisional verdict analysis proposes for each sample, for staff to confirm.

CREATE TABLE hash_verdicts (
    hash         TEXT PRIMARY KEY,          -- lower-case hex: MD5, SHA-1 or SHA-256
    verdict      TEXT NOT NULL CHECK (verdict IN ('malicious', 'suspicious', 'clean')),
    source       TEXT NOT NULL,             -- 'lab' or the list's name
    note         TEXT,
    imported_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE verdicts (
    sha256       TEXT PRIMARY KEY REFERENCES samples (sha256),
    verdict      TEXT NOT NULL CHECK (verdict IN ('malicious', 'suspicious', 'clean', 'unknown')),
    reasons      JSONB NOT NULL,
    decided_by   TEXT NOT NULL,             -- 'analysis' until staff confirm
    decided_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
