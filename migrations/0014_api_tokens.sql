-- Per-user API tokens for scripts: 256 random bits shown once, stored as
-- their SHA-256 so a request costs one indexed look-up, not a password hash.
CREATE TABLE api_tokens (
    id              BIGSERIAL PRIMARY KEY,
    token_sha256    TEXT NOT NULL UNIQUE,
    account_id      BIGINT NOT NULL REFERENCES accounts (id),
    name            TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    last_used_at    TIMESTAMPTZ,
    revoked_at      TIMESTAMPTZ
);
CREATE INDEX api_tokens_account ON api_tokens (account_id);
