-- OAuth clients, codes, grants and tokens (SPEC.md §4, POLICY.md 22). Secrets and tokens are
-- stored as SHA-256 hashes only (they are random, 256 bits).
CREATE TABLE oauth_clients (
    client_id      TEXT    NOT NULL PRIMARY KEY,
    secret_hash    TEXT    NOT NULL,
    redirect_uris  TEXT    NOT NULL,
    require_pkce   BIGINT  NOT NULL,
    access_ttl     BIGINT  NOT NULL,
    refresh_ttl    BIGINT  NOT NULL,
    created_at     BIGINT  NOT NULL
);

CREATE TABLE oauth_grants (
    id          TEXT    NOT NULL PRIMARY KEY,
    client_id   TEXT    NOT NULL,
    username    TEXT    NOT NULL,
    domain      TEXT    NOT NULL,
    hosts       TEXT    NOT NULL,
    scope       TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX oauth_grants_user ON oauth_grants (username);

CREATE TABLE oauth_codes (
    code_hash      TEXT    NOT NULL PRIMARY KEY,
    grant_id       TEXT    NOT NULL,
    redirect_uri   TEXT    NOT NULL,
    pkce_challenge TEXT,
    expires_at     BIGINT  NOT NULL,
    used_at        BIGINT
);

CREATE TABLE oauth_tokens (
    token_hash  TEXT    NOT NULL PRIMARY KEY,
    grant_id    TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    expires_at  BIGINT  NOT NULL,
    used_at     BIGINT
);
CREATE INDEX oauth_tokens_grant ON oauth_tokens (grant_id);
