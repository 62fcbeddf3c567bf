-- Secrets the lab's processes share, made once per database. The reply
-- token key proves that a reply answers one of our messages (DESIGN.md, "The
-- service request's life"); gen_random_uuid draws from PostgreSQL's strong
-- random source. A configured `reply_secret` takes precedence.
CREATE TABLE secrets (
    name    TEXT PRIMARY KEY,
    value   TEXT NOT NULL
);
INSERT INTO secrets (name, value)
VALUES ('reply_token', replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''));
