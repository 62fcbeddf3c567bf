-- Accounts of the two realms: customers on the portal (tied to a grant) and
-- lab staff. Passwords are Argon2id PHC strings; every secret handed out
-- (session cookies, confirmation and reset links, API tokens) is stored
-- only as its SHA-256, so a copy of this database signs no one in.
CREATE TABLE accounts (
    id              BIGSERIAL PRIMARY KEY,
    realm           TEXT NOT NULL CHECK (realm IN ('customer', 'staff')),
    -- Lower-case.
    email           TEXT NOT NULL,
    name            TEXT NOT NULL,
    grant_number    TEXT REFERENCES grants (grant_number),
    lang            TEXT NOT NULL DEFAULT 'en' CHECK (lang IN ('en', 'zh')),
    password_hash   TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    -- The address is proven (the confirmation link was used).
    confirmed_at    TIMESTAMPTZ,
    -- Failed sign-ins since the last success, and until when that locks it.
    failures        INT NOT NULL DEFAULT 0,
    locked_until    TIMESTAMPTZ,
    disabled_at     TIMESTAMPTZ,
    UNIQUE (realm, email),
    CHECK (realm = 'staff' OR grant_number IS NOT NULL)
);

-- Single-use links mailed to an account's address.
CREATE TABLE account_links (
    token_sha256    TEXT PRIMARY KEY,
    account_id      BIGINT NOT NULL REFERENCES accounts (id),
    purpose         TEXT NOT NULL CHECK (purpose IN ('confirm', 'reset')),
    created_at      TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL,
    used_at         TIMESTAMPTZ
);
CREATE INDEX account_links_account ON account_links (account_id);

CREATE TABLE sessions (
    token_sha256    TEXT PRIMARY KEY,
    account_id      BIGINT NOT NULL REFERENCES accounts (id),
    created_at      TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_account ON sessions (account_id);

-- Failed sign-ins by client address, for the per-address back-off.
CREATE TABLE sign_in_failures (
    id              BIGSERIAL PRIMARY KEY,
    address         TEXT NOT NULL,
    at              TIMESTAMPTZ NOT NULL
);
CREATE INDEX sign_in_failures_address ON sign_in_failures (address, at);
