-- Data requests (permintaan data, issue 17 part 2; services/reporting/usecases/datarequests.py):
-- someone outside an agreement asks for employees' data; BKD approves or refuses it; each
-- person concerned gives or refuses consent; the release is an export (table exports) that
-- holds only the consenting people and only the requested fields, downloadable by the
-- requester until `expires_at`. The log (stream datarequest:<id>) is the source of truth; these
-- tables are its current state, written in the same transactions.
CREATE TABLE {schema}.data_requests (
    request_id      uuid PRIMARY KEY,
    requester       text NOT NULL,
    requester_roles text[] NOT NULL DEFAULT '{}',
    organisation    text NOT NULL,
    purpose         text NOT NULL,
    fields          text[] NOT NULL,
    population      jsonb NOT NULL,
    period_from     date NOT NULL,
    period_until    date NOT NULL,
    state           text NOT NULL CHECK (state IN ('submitted', 'refused', 'approved',
                                                   'released')),
    decided_by      text,
    decision_reason text,
    signer          text,
    export_id       uuid REFERENCES {schema}.exports (export_id),
    version         integer NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX data_requests_by_requester ON {schema}.data_requests (requester, created_at DESC);
CREATE INDEX data_requests_by_state ON {schema}.data_requests (state, created_at DESC);
GRANT SELECT, INSERT, UPDATE ON {schema}.data_requests TO {role};

-- One row per person concerned by an approved request of personal data: their consent.
CREATE TABLE {schema}.data_request_consents (
    request_id  uuid NOT NULL REFERENCES {schema}.data_requests (request_id),
    nip         text NOT NULL,
    consent     text NOT NULL DEFAULT 'pending' CHECK (consent IN ('pending', 'given',
                                                                  'refused')),
    answered_by text,
    reason      text,
    answered_at timestamptz,
    PRIMARY KEY (request_id, nip)
);
CREATE INDEX data_request_consents_nip ON {schema}.data_request_consents (nip, consent);
GRANT SELECT, INSERT, UPDATE ON {schema}.data_request_consents TO {role};

-- A data request's release expires: its file is no longer handed out after this moment.
ALTER TABLE {schema}.exports ADD COLUMN expires_at timestamptz;
