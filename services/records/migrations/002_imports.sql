-- Bulk import jobs (CSV/XLSX of an OPD's employees) and their per-row problems. A job's
-- progress is written in the same transaction as the chunk of employees it imported, so a
-- resumed job continues exactly after its last committed row.
CREATE TABLE {schema}.imports (
    import_id    uuid PRIMARY KEY,
    opd_id       text NOT NULL,
    file_sha256  text NOT NULL,
    file_name    text NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('csv', 'xlsx')),
    status       text NOT NULL CHECK (status IN ('running', 'completed', 'failed')),
    context      jsonb NOT NULL,
    runner       text,
    attempts     integer NOT NULL DEFAULT 0,
    heartbeat    timestamptz NOT NULL DEFAULT now(),
    rows_done    integer NOT NULL DEFAULT 0,
    total_rows   integer NOT NULL DEFAULT 0,
    registered   integer NOT NULL DEFAULT 0,
    updated      integer NOT NULL DEFAULT 0,
    unchanged    integer NOT NULL DEFAULT 0,
    invalid      integer NOT NULL DEFAULT 0,
    error        text,
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz
);
CREATE INDEX imports_running ON {schema}.imports (heartbeat) WHERE status = 'running';
CREATE INDEX imports_opd ON {schema}.imports (opd_id, started_at DESC);
CREATE TABLE {schema}.import_problems (
    import_id   uuid NOT NULL REFERENCES {schema}.imports,
    row_number  integer NOT NULL,
    nip         text NOT NULL,
    problems    jsonb NOT NULL,
    PRIMARY KEY (import_id, row_number)
);
GRANT SELECT, INSERT, UPDATE ON {schema}.imports TO {role};
GRANT SELECT, INSERT ON {schema}.import_problems TO {role};
