-- The lists and statistics BKD works from (issue 15 part 4): what the employee rows need
-- beyond the search, and every version of every row so that any list can be read "as of" a
-- past moment (services/reporting/usecases/projection.py, docs/design/reporting.md).
ALTER TABLE {schema}.employees
    ADD COLUMN last_kgb_tmt    date,      -- the latest gaji_berkala entry's TMT
    ADD COLUMN diklat_level    smallint,  -- the highest latihan jabatan (reporting-lists.json)
    ADD COLUMN pendidikan_top  text,      -- the highest level in the pendidikan history
    ADD COLUMN eselon_rank     smallint,  -- I.a highest .. V.b lowest, NULL without eselon
    ADD COLUMN education_rank  smallint,  -- the higher of education_id and pendidikan_top
    ADD COLUMN bup_age         smallint,  -- retirement age of the jabatan in force
    ADD COLUMN tmt_bup         date;      -- TMT pensiun that age gives (shared/career.py)
CREATE INDEX employees_tmt_bup ON {schema}.employees (tmt_bup, nip);
-- a DUK page in the default order of reporting-lists.json (PP 15/1979) read from an index, not
-- by sorting every PNS (another configured order still works, by sorting)
CREATE INDEX employees_duk ON {schema}.employees (
    golongan_rank DESC NULLS LAST, tmt_golongan ASC NULLS LAST, eselon_rank DESC NULLS LAST,
    tmt_jabatan ASC NULLS LAST, tmt_cpns ASC NULLS LAST, diklat_level DESC NULLS LAST,
    education_rank DESC NULLS LAST, date_of_birth ASC NULLS LAST, nip);

-- One row per employee per stream version that changed it: the row as it stood once that
-- event was applied (every earlier one of the stream folded in too), valid from the moment
-- the event was recorded in the records log. "As of T" = per NIP the highest version with
-- valid_from <= T. A version that arrives late is inserted from the one below it and folded
-- into every stored version above it (the fold does not depend on order).
CREATE TABLE {schema}.employee_versions (
    nip             text NOT NULL,
    stream_version  integer NOT NULL,
    valid_from      timestamptz NOT NULL,
    name            text,
    gelar_depan     text,
    gelar_belakang  text,
    instansi        text NOT NULL DEFAULT '35',
    opd_id          text,
    opd_name        text,
    unit            text,
    status          text,
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
    last_kgb_tmt    date,
    diklat_level    smallint,
    pendidikan_top  text,
    eselon_rank     smallint,
    education_rank  smallint,
    bup_age         smallint,
    tmt_bup         date,
    field_versions  jsonb NOT NULL DEFAULT '{}',
    position        bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (nip, stream_version)
);
-- no index on valid_from: "as of T" walks the primary key (DISTINCT ON nip, highest version
-- first) and most versions are older than any T asked for; one index fewer to write per event
GRANT SELECT, INSERT, UPDATE ON {schema}.employee_versions TO {role};
