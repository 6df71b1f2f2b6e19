-- Cases of documents found not original (a projection of the case:<id> streams): the drafted
-- written warning waits here for an administrator to issue it.
CREATE TABLE {schema}.cases (
    case_id      uuid PRIMARY KEY,
    nip          text NOT NULL,
    opd_id       text NOT NULL,
    request_id   uuid,
    document     text NOT NULL,
    sha256       text,
    reported_by  text NOT NULL,
    status       text NOT NULL CHECK (status IN ('drafted', 'issued', 'dismissed')),
    warning      text NOT NULL,
    reported_at  timestamptz NOT NULL DEFAULT now(),
    decided_by   text,
    decided_at   timestamptz
);
CREATE INDEX cases_status ON {schema}.cases (status, reported_at);
GRANT SELECT, INSERT, UPDATE ON {schema}.cases TO {role};
