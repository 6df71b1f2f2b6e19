-- Monitoring and evaluation (issue 15 part 3), services/reporting/usecases/monev_*.py.
--
-- Completeness (subscription `reporting.completeness`, from records): per NIP, WHICH data pokok
-- fields are filled and WHICH document slots hold a document: never a value. `fields` maps a
-- field to [stream version, filled]; `slots` a slot to the stream version of its first
-- document. Confidential parts never arrive (the feed withholds them).
CREATE TABLE {schema}.completeness (
    nip             text PRIMARY KEY CHECK (nip ~ '^[0-9]{18}$'),
    fields          jsonb NOT NULL DEFAULT '{}',
    slots           jsonb NOT NULL DEFAULT '{}',
    stream_version  integer NOT NULL DEFAULT 0,
    position        bigint NOT NULL DEFAULT 0,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT, INSERT, UPDATE, DELETE ON {schema}.completeness TO {role};

-- Daily snapshot of each OPD's completeness (the trend), written by the snapshot timer: one
-- row per (WIB day, instansi, OPD); today's row is refreshed until the day ends, earlier days
-- are never touched again. Not derived from a log: a rebuild leaves it alone.
CREATE TABLE {schema}.completeness_daily (
    day             date NOT NULL,
    instansi        text NOT NULL,
    opd_id          text NOT NULL,
    employees       integer NOT NULL,
    complete        integer NOT NULL,
    required        integer NOT NULL,
    present         integer NOT NULL,
    percent         numeric(5, 2) NOT NULL,
    taken_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (day, instansi, opd_id)
);
CREATE INDEX completeness_daily_opd ON {schema}.completeness_daily (instansi, opd_id, day);
GRANT SELECT, INSERT, UPDATE ON {schema}.completeness_daily TO {role};

-- Fasilitator assignments (subscription `reporting.assignments`, from identity): who holds the
-- fasilitator role and for which OPDs; nothing else of the account (no e-mail, no phone). The
-- account's steps are kept (roles and scope only) and folded in version order, whatever order
-- they arrived in: a granted role adds to the scope, so order matters.
CREATE TABLE {schema}.assignment_steps (
    account_id      text NOT NULL,
    version         integer NOT NULL,
    event_type      text NOT NULL,
    payload         jsonb NOT NULL,
    PRIMARY KEY (account_id, version)
);
GRANT SELECT, INSERT, UPDATE, DELETE ON {schema}.assignment_steps TO {role};

CREATE TABLE {schema}.fasilitators (
    account_id      text PRIMARY KEY,
    display_name    text,
    opd_scope       text[] NOT NULL DEFAULT '{}',
    active          boolean NOT NULL
);
GRANT SELECT, INSERT, UPDATE, DELETE ON {schema}.fasilitators TO {role};

-- Verification workload (subscription `reporting.workload`, from requests): each request's
-- steps (any order; the summary is computed from all of them) and what its submission said.
CREATE TABLE {schema}.workload_requests (
    request_id      text PRIMARY KEY,
    opd_id          text,
    layanan         text,
    sla_hari_kerja  integer,
    stream_version  integer NOT NULL DEFAULT 0
);
CREATE INDEX workload_requests_opd ON {schema}.workload_requests (opd_id);
GRANT SELECT, INSERT, UPDATE, DELETE ON {schema}.workload_requests TO {role};

CREATE TABLE {schema}.workload_steps (
    request_id      text NOT NULL,
    version         integer NOT NULL,
    event_type      text NOT NULL,
    day             date NOT NULL,
    PRIMARY KEY (request_id, version)
);
GRANT SELECT, INSERT, UPDATE, DELETE ON {schema}.workload_steps TO {role};
