-- The verification queues: pending requests and pending record changes, per OPD, built from the
-- requests and records events (each row remembers the stream version it reflects, so events
-- handled out of order never move it backwards).
CREATE TABLE {schema}.queue_items (
    item_id         text PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN ('request', 'record_change')),
    stream_version  integer NOT NULL,
    stage           text NOT NULL,
    opd_id          text,
    nip             text,
    layanan         text,
    sla_hari_kerja  integer,
    since           timestamptz NOT NULL,
    claimed_by      text,
    claimed_at      timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX queue_items_open ON {schema}.queue_items (opd_id, stage, since);
GRANT SELECT, INSERT, UPDATE ON {schema}.queue_items TO {role};
