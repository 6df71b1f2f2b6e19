-- The yearly layanan evaluation as a recorded, signed report (issue 15 part 3, monev;
-- services/requests/usecases/evaluation.py `record`). One row per revision of a year: the
-- figures as computed from this log when it was recorded (the event LayananEvaluationRecorded
-- in stream `layanan-evaluation:<year>` carries the same), then the signed PDF the signing
-- service produced (LayananEvaluationSigned). A revision is `recorded` until signed, `signed`,
-- or `refused` when signing refused it (a signer without a certificate): then it may be
-- recorded again. A second signed revision of a year is only a correction with its reason.
CREATE TABLE {schema}.evaluations (
    year            integer NOT NULL CHECK (year BETWEEN 2000 AND 2100),
    revision        integer NOT NULL CHECK (revision > 0),
    status          text NOT NULL CHECK (status IN ('recorded', 'signed', 'refused')),
    figures         jsonb NOT NULL,
    figures_sha256  text NOT NULL,
    signer          text NOT NULL,
    correction      boolean NOT NULL DEFAULT false,
    reason          text,
    notes           text,
    recorded_by     text NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    document_id     uuid,
    number          text,
    pdf_sha256      text,
    signed_at       timestamptz,
    PRIMARY KEY (year, revision)
);
GRANT SELECT, INSERT, UPDATE ON {schema}.evaluations TO {role};
