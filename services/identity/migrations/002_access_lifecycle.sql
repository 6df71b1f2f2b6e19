-- Access lifecycle (Pergub 73/2020: "penanganan permintaan, penarikan, dan peninjauan ulang
-- akses pengguna") and machine clients (kabupaten/kota, agencies with an agreement).
ALTER TABLE {schema}.accounts DROP CONSTRAINT accounts_kind_check;
ALTER TABLE {schema}.accounts ADD CONSTRAINT accounts_kind_check
    CHECK (kind IN ('pegawai', 'staff', 'machine'));

CREATE TABLE {schema}.access_requests (
    request_id      uuid PRIMARY KEY,
    status          text NOT NULL CHECK (status IN ('pending', 'approved', 'refused')),
    role            text NOT NULL,
    opd_scope       text[] NOT NULL DEFAULT '{}',
    subject_login   text NOT NULL,
    subject         jsonb NOT NULL,
    justification   text NOT NULL,
    requested_by    text NOT NULL,
    requested_at    timestamptz NOT NULL DEFAULT now(),
    decided_by      text,
    decided_at      timestamptz,
    decision_note   text
);
CREATE INDEX access_requests_pending ON {schema}.access_requests (requested_at)
    WHERE status = 'pending';

CREATE TABLE {schema}.access_reviews (
    review_id       uuid PRIMARY KEY,
    generated_by    text NOT NULL,
    generated_at    timestamptz NOT NULL DEFAULT now(),
    stale_days      integer NOT NULL,
    summary         jsonb NOT NULL,
    signed_off_by   text,
    signed_off_at   timestamptz,
    sign_off_note   text
);
CREATE TABLE {schema}.access_review_items (
    review_id       uuid NOT NULL REFERENCES {schema}.access_reviews,
    account_id      text NOT NULL,
    kind            text NOT NULL,
    roles           text[] NOT NULL,
    opd_scope       text[] NOT NULL,
    status          text NOT NULL,
    last_login_at   timestamptz,
    created_at      timestamptz NOT NULL,
    findings        text[] NOT NULL,
    PRIMARY KEY (review_id, account_id)
);

CREATE TABLE {schema}.machine_clients (
    client_id        text PRIMARY KEY REFERENCES {schema}.accounts,
    client_kind      text NOT NULL CHECK (client_kind IN ('kabkota', 'agency')),
    kabkota_code     text,
    agreement_kind   text NOT NULL CHECK (agreement_kind IN ('MoU', 'PKS')),
    agreement_number text NOT NULL,
    scopes           text[] NOT NULL,
    valid_from       date NOT NULL,
    valid_until      date NOT NULL CHECK (valid_until >= valid_from)
);

GRANT SELECT, INSERT, UPDATE ON {schema}.access_requests, {schema}.access_reviews,
    {schema}.access_review_items, {schema}.machine_clients TO {role};
