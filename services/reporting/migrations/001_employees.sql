-- The employee list (issue 15): one row per NIP, a read model of the records log fed by the
-- catch-up subscription `reporting.employees` (services/reporting/usecases/projection.py).
-- Confidential fields are not here and never were: the feed withholds them. `field_versions`
-- holds the stream version that set each column, so events applied out of order never move a
-- value backwards; `position` is the records log position of the last event applied.
CREATE TABLE {schema}.employees (
    nip             text PRIMARY KEY CHECK (nip ~ '^[0-9]{18}$'),
    name            text,
    gelar_depan     text,
    gelar_belakang  text,
    instansi        text NOT NULL DEFAULT '35',
    opd_id          text,
    opd_name        text,
    unit            text,
    status          text,
    retired         boolean GENERATED ALWAYS AS (status IS NOT DISTINCT FROM 'Pensiun') STORED,
    gender          text,
    date_of_birth   date,
    education_id    text,
    tmt_cpns        date,
    tmt_pns         date,
    tmt_pensiun     date,
    golongan        text,
    golongan_rank   smallint,
    tmt_golongan    date,
    jabatan         text,
    jenis_jabatan   text,
    eselon          text,
    tmt_jabatan     date,
    field_versions  jsonb NOT NULL DEFAULT '{}',
    stream_version  integer NOT NULL DEFAULT 0,
    position        bigint NOT NULL DEFAULT 0,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
-- the scope every search starts from (instansi, then OPD), and the filters BKD sorts by
CREATE INDEX employees_scope ON {schema}.employees (instansi, opd_id, nip);
CREATE INDEX employees_golongan ON {schema}.employees (golongan_rank, nip);
CREATE INDEX employees_born ON {schema}.employees (date_of_birth, nip);
CREATE INDEX employees_name_order ON {schema}.employees ((lower(name) COLLATE "C"), nip);
CREATE INDEX employees_opd_order ON {schema}.employees (opd_id, nip);
CREATE INDEX employees_tmt_cpns ON {schema}.employees (tmt_cpns, nip);
CREATE INDEX employees_tmt_golongan ON {schema}.employees (tmt_golongan, nip);
-- "a word anywhere in the name": trigram index (pg_trgm, a trusted extension since PostgreSQL
-- 13: the migrating role needs CREATE on the database, not superuser). Without the extension
-- the search still works, by scanning; the migration says so and goes on.
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;
EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'pg_trgm unavailable (%): employee name search will scan', SQLERRM;
END $$;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        EXECUTE 'CREATE INDEX employees_name_trgm ON {schema}.employees '
                'USING gin (name gin_trgm_ops)';
        EXECUTE 'CREATE INDEX employees_jabatan_trgm ON {schema}.employees '
                'USING gin (jabatan gin_trgm_ops)';
        EXECUTE 'CREATE INDEX employees_unit_trgm ON {schema}.employees '
                'USING gin (unit gin_trgm_ops)';
    END IF;
END $$;
GRANT SELECT, INSERT, UPDATE ON {schema}.employees TO {role};

-- What the projection watch saw of each subscription: the source log's head (from its feed)
-- and since when the position has stood still behind it. A subscription behind its head and
-- not moving for PROJECTION_STALL_SECONDS is stalled: logged as an error and shown by health.
CREATE TABLE {schema}.projection_watch (
    name          text NOT NULL,
    source        text NOT NULL,
    head          bigint,
    position      bigint NOT NULL DEFAULT 0,
    behind_since  timestamptz,
    checked_at    timestamptz NOT NULL DEFAULT now(),
    error         text,
    PRIMARY KEY (name, source)
);
GRANT SELECT, INSERT, UPDATE ON {schema}.projection_watch TO {role};
