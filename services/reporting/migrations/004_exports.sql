-- Exports of reports (issue 15 part 5, services/reporting/usecases/exports.py): one row per
-- export asked for, produced in the background into the document store. An export of a report
-- that names persons is a disclosure: who received it, why, and which NIPs it held
-- (`disclosed_subjects`, written while the file is written, in the transaction that records
-- the PersonalDataDisclosed event) - the basis of issue 17's disclosure log.
CREATE TABLE {schema}.exports (
    export_id     uuid PRIMARY KEY,
    report        text NOT NULL,
    format        text NOT NULL CHECK (format IN ('csv', 'xlsx', 'pdf')),
    params        jsonb NOT NULL DEFAULT '{}',
    purpose       text,
    account_id    text NOT NULL,
    roles         text[] NOT NULL DEFAULT '{}',
    opd_scope     text[] NOT NULL DEFAULT '{}',
    personal      boolean NOT NULL,
    official      boolean NOT NULL DEFAULT false,
    signer        text,
    status        text NOT NULL DEFAULT 'running'
                  CHECK (status IN ('running', 'ready', 'failed')),
    row_count     bigint,
    sha256        text,
    size          bigint,
    content_type  text,
    document_id   uuid,
    error         text,
    -- the worker producing it and when it took it: a claim older than EXPORT_STALE_SECONDS
    -- is taken over (its worker died)
    runner        text,
    claimed_at    timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz
);
CREATE INDEX exports_by_account ON {schema}.exports (account_id, created_at DESC);
CREATE INDEX exports_running ON {schema}.exports (created_at) WHERE status = 'running';
CREATE INDEX exports_disclosures ON {schema}.exports (created_at DESC) WHERE personal;
GRANT SELECT, INSERT, UPDATE ON {schema}.exports TO {role};

-- The NIPs each personal export released: one row per (export, NIP), so "who received my
-- data" is an index lookup and a 100,000-row export is not one 2 MB event.
CREATE TABLE {schema}.disclosed_subjects (
    export_id  uuid NOT NULL REFERENCES {schema}.exports (export_id),
    nip        text NOT NULL,
    PRIMARY KEY (export_id, nip)
);
CREATE INDEX disclosed_subjects_nip ON {schema}.disclosed_subjects (nip, export_id);
GRANT SELECT, INSERT ON {schema}.disclosed_subjects TO {role};
