-- Issue 17 part 3: the disclosure log. Every release of personal data (an agency API answer, an
-- approved data request, an export, an auditor's read) is a PersonalDataDisclosed event in
-- records' log (stream disclosure:<uuid>); these tables are its read model, written in the
-- same transaction: one row per release, one row per NIP it concerned (the pegawai's own view
-- reads by NIP, BKD's report by recipient and purpose).
CREATE TABLE {schema}.disclosures (
    disclosure_id    uuid PRIMARY KEY,
    channel          text NOT NULL,
    recipient_kind   text NOT NULL,
    recipient_id     text NOT NULL,
    recipient_name   text,
    basis_kind       text NOT NULL,
    basis_reference  text NOT NULL,
    purpose          text NOT NULL,
    fields           text[] NOT NULL,
    reference        text,
    subjects         integer NOT NULL,
    actor_id         text,
    disclosed_at     timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX disclosures_time ON {schema}.disclosures (disclosed_at DESC);
CREATE INDEX disclosures_recipient ON {schema}.disclosures (recipient_kind, recipient_id, disclosed_at DESC);
CREATE INDEX disclosures_purpose ON {schema}.disclosures (purpose, disclosed_at DESC);
GRANT SELECT, INSERT ON {schema}.disclosures TO {role};

CREATE TABLE {schema}.disclosure_subjects (
    nip            text NOT NULL,
    disclosure_id  uuid NOT NULL REFERENCES {schema}.disclosures (disclosure_id),
    PRIMARY KEY (nip, disclosure_id)
);
CREATE INDEX disclosure_subjects_disclosure ON {schema}.disclosure_subjects (disclosure_id);
GRANT SELECT, INSERT ON {schema}.disclosure_subjects TO {role};
