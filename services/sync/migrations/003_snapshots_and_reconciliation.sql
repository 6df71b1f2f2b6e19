-- Snapshots and the yearly reconciliation (issue 14 part 4). A region uploads a full snapshot of
-- its employees (CSV or JSON lines, streamed into the object store); a loader reads it row by
-- row into snapshot_rows; a reconciliation compares it with the records and lists every
-- difference; each difference gets a recorded decision (events in the region's stream) and the
-- decisions to take the region's value are applied to records. Tables are projections of the
-- region:<code> / reconciliation streams plus the leases the workers keep.

CREATE TABLE {schema}.snapshots (
    snapshot_id   uuid PRIMARY KEY,
    region        text NOT NULL REFERENCES {schema}.regions (code),
    format        text NOT NULL CHECK (format IN ('csv', 'jsonl')),
    -- the object store key is the SHA-256 of the bytes (shared/objectstore.py)
    sha256        text NOT NULL,
    size_bytes    bigint NOT NULL,
    key_id        text NOT NULL,
    received_at   timestamptz NOT NULL DEFAULT now(),
    status        text NOT NULL CHECK (status IN ('received', 'loading', 'loaded', 'failed')),
    rows_total    integer NOT NULL DEFAULT 0,
    rows_invalid  integer NOT NULL DEFAULT 0,
    loaded_at     timestamptz,
    error         jsonb,
    -- one loader at a time (replicas): a lease like the applier's
    runner        text,
    lease_until   timestamptz
);
CREATE INDEX snapshots_region ON {schema}.snapshots (region, received_at DESC);
GRANT SELECT, INSERT, UPDATE ON {schema}.snapshots TO {role};

-- A snapshot's rows as the region sent them (field names normalised), with the reasons a row
-- is invalid (a NIP that fails validation, a date that is not one...).
CREATE TABLE {schema}.snapshot_rows (
    snapshot_id  uuid NOT NULL REFERENCES {schema}.snapshots (snapshot_id),
    line         integer NOT NULL,
    nip          text NOT NULL,
    data         jsonb NOT NULL,
    problems     jsonb,
    PRIMARY KEY (snapshot_id, line)
);
CREATE INDEX snapshot_rows_nip ON {schema}.snapshot_rows (snapshot_id, nip);
GRANT SELECT, INSERT, UPDATE, DELETE ON {schema}.snapshot_rows TO {role};

CREATE TABLE {schema}.reconciliations (
    reconciliation_id  uuid PRIMARY KEY,
    region             text NOT NULL REFERENCES {schema}.regions (code),
    snapshot_id        uuid NOT NULL REFERENCES {schema}.snapshots (snapshot_id),
    year               integer NOT NULL,
    status             text NOT NULL CHECK (status IN ('running', 'reported', 'failed',
                                                       'applying', 'applied', 'closed')),
    requested_by       text NOT NULL,
    started_at         timestamptz NOT NULL DEFAULT now(),
    reported_at        timestamptz,
    -- counts per kind of difference, rows compared, ... (the report's figures)
    figures            jsonb,
    error              jsonb,
    applied_at         timestamptz,
    -- the signed berita acara (signing's document id) once the meeting is closed
    berita_acara       uuid,
    closed_at          timestamptz,
    runner             text,
    lease_until        timestamptz
);
CREATE INDEX reconciliations_region ON {schema}.reconciliations (region, started_at DESC);
GRANT SELECT, INSERT, UPDATE ON {schema}.reconciliations TO {role};

-- Every difference a reconciliation found, numbered 1..n in a stable order (kind, nip, field),
-- and the decision recorded for it.
CREATE TABLE {schema}.differences (
    reconciliation_id  uuid NOT NULL REFERENCES {schema}.reconciliations (reconciliation_id),
    difference_id      integer NOT NULL,
    kind               text NOT NULL CHECK (kind IN ('missing_in_records', 'missing_in_region',
                                                     'field_mismatch', 'nip_in_two_instansi',
                                                     'nip_invalid')),
    nip                text NOT NULL,
    field              text,
    region_value       jsonb,
    province_value     jsonb,
    -- nip_in_two_instansi: the other instansi that holds the NIP (records or another snapshot)
    other_instansi     text,
    -- the snapshot line the difference comes from (none for missing_in_region)
    line               integer,
    decision           text CHECK (decision IN ('take_region', 'keep_province',
                                                'ask_correction')),
    decided_by         text,
    decided_at         timestamptz,
    note               text,
    applied_at         timestamptz,
    applied_outcome    jsonb,
    PRIMARY KEY (reconciliation_id, difference_id)
);
CREATE INDEX differences_kind ON {schema}.differences (reconciliation_id, kind);
CREATE INDEX differences_undecided ON {schema}.differences (reconciliation_id)
    WHERE decision IS NULL;
GRANT SELECT, INSERT, UPDATE ON {schema}.differences TO {role};
