-- Per type and year, the last number given out: taken under a row lock in the same transaction
-- as the DocumentNumberAssigned event, so a number is never given twice and never skipped.
CREATE TABLE {schema}.number_sequences (
    document_type text NOT NULL,
    year          integer NOT NULL,
    last_seq      integer NOT NULL CHECK (last_seq >= 0),
    PRIMARY KEY (document_type, year)
);
GRANT SELECT, INSERT, UPDATE ON {schema}.number_sequences TO {role};

-- Output documents (a projection of the document:<id> streams) and the work to produce them.
CREATE TABLE {schema}.documents (
    document_id     uuid PRIMARY KEY,
    subject         text NOT NULL,
    document_key    text NOT NULL,
    document_type   text NOT NULL,
    request_id      uuid,
    nip             text,
    signer          text NOT NULL,
    as_of           timestamptz,
    values_json     jsonb NOT NULL DEFAULT '{}'::jsonb,
    confidential    boolean NOT NULL DEFAULT false,
    number          text UNIQUE,
    year            integer,
    seq             integer,
    status          text NOT NULL CHECK (status IN ('pending', 'waiting_key', 'failed',
                                                     'signed', 'completed', 'revoked',
                                                     'superseded')),
    attempts        integer NOT NULL DEFAULT 0,
    last_error      text,
    runner          text,
    heartbeat_at    timestamptz,
    sha256          text,
    signer_name     text,
    jabatan         text,
    pades_level     text,
    signed_at       timestamptz,
    revoked_reason  text,
    revoked_at      timestamptz,
    superseded_by   uuid,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (document_type, year, seq)
);
-- one live document per subject (a request, a case); a re-issue supersedes the old one
CREATE UNIQUE INDEX documents_live_subject ON {schema}.documents (subject)
    WHERE status NOT IN ('revoked', 'superseded');
CREATE INDEX documents_sha256 ON {schema}.documents (sha256);
CREATE INDEX documents_todo ON {schema}.documents (status, updated_at)
    WHERE status IN ('pending', 'waiting_key', 'failed', 'signed');
GRANT SELECT, INSERT, UPDATE ON {schema}.documents TO {role};
