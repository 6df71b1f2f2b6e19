-- Current state of accounts (a projection kept in the same transaction as the events) and the
-- credentials that never enter the event log.
CREATE TABLE {schema}.accounts (
    account_id      text PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN ('pegawai', 'staff')),
    display_name    text NOT NULL,
    email           text,
    phone           text,
    home_opd        text,
    roles           text[] NOT NULL,
    opd_scope       text[] NOT NULL DEFAULT '{}',
    status          text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    totp_enrolled   boolean NOT NULL DEFAULT false,
    failed_attempts integer NOT NULL DEFAULT 0,
    locked_until    timestamptz,
    last_login_at   timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    version         integer NOT NULL
);
CREATE INDEX accounts_home_opd ON {schema}.accounts (home_opd);

CREATE TABLE {schema}.credentials (
    account_id          text PRIMARY KEY REFERENCES {schema}.accounts,
    password_hash       text,
    password_changed_at timestamptz,
    totp_secret_sealed  text,
    totp_last_step      bigint
);

CREATE TABLE {schema}.sessions (
    session_id      uuid PRIMARY KEY,
    account_id      text NOT NULL REFERENCES {schema}.accounts,
    device          text NOT NULL,
    user_agent      text,
    client_address  text,
    refresh_hash    text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    refreshed_at    timestamptz,
    expires_at      timestamptz NOT NULL,
    revoked_at      timestamptz,
    revoke_cause    text
);
CREATE INDEX sessions_live ON {schema}.sessions (account_id) WHERE revoked_at IS NULL;

CREATE TABLE {schema}.one_time_tokens (
    token_hash      text PRIMARY KEY,
    purpose         text NOT NULL CHECK (purpose IN ('password_reset', 'totp_enrollment')),
    account_id      text NOT NULL REFERENCES {schema}.accounts,
    sealed_secret   text,
    expires_at      timestamptz NOT NULL,
    used_at         timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now()
);

GRANT SELECT, INSERT, UPDATE ON {schema}.accounts, {schema}.credentials, {schema}.sessions,
    {schema}.one_time_tokens TO {role};
