-- Template state (POLICY.md 13) and the audit log.
CREATE TABLE instances (
    id          TEXT   NOT NULL PRIMARY KEY,
    zone        TEXT   NOT NULL,
    host        TEXT   NOT NULL,
    provider_id TEXT   NOT NULL,
    service_id  TEXT   NOT NULL,
    body        TEXT   NOT NULL,
    applied_by  TEXT   NOT NULL,
    applied_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX instances_zone ON instances (zone);

CREATE TABLE audit (
    id          BIGSERIAL PRIMARY KEY,
    at          BIGINT NOT NULL,
    actor       TEXT   NOT NULL,
    action      TEXT   NOT NULL,
    zone        TEXT,
    provider_id TEXT,
    service_id  TEXT,
    detail      TEXT   NOT NULL
);
CREATE INDEX audit_at ON audit (at);
