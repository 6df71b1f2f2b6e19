-- Projections of the requests log, written in the same transaction as the events.
CREATE TABLE {schema}.layanan (
    kode           text PRIMARY KEY,
    version        integer NOT NULL,
    active         boolean NOT NULL DEFAULT true,
    entry          jsonb NOT NULL,
    decree_number  text,
    decree_date    date,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE {schema}.requests (
    request_id       uuid PRIMARY KEY,
    layanan          text NOT NULL,
    catalogue_version integer NOT NULL,
    nip              text NOT NULL,
    opd_id           text NOT NULL,
    state            text NOT NULL,
    version          integer NOT NULL,
    drafted_by       text NOT NULL,
    idempotency_key  text,
    stage_since      timestamptz NOT NULL DEFAULT now(),
    created_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz,
    UNIQUE (drafted_by, idempotency_key)
);
CREATE INDEX requests_opd_state ON {schema}.requests (opd_id, state, stage_since);
CREATE INDEX requests_nip ON {schema}.requests (nip, created_at DESC);
CREATE INDEX requests_layanan ON {schema}.requests (layanan, created_at);
GRANT SELECT, INSERT, UPDATE ON {schema}.layanan, {schema}.requests TO {role};
