-- Failed attempts slow their source instead of locking the account (issue 12), so nobody can lock
-- an owner out: one row per (client address, login), keyed by the SHA-256 of both; an unknown
-- login is counted exactly like a real one. Rows untouched for a day, their wait over, are
-- deleted by identity's timer. accounts.failed_attempts and accounts.locked_until are no
-- longer read or written (kept so that replicas of the previous release keep working during a
-- rolling update).
CREATE TABLE {schema}.login_throttle (
    key_hash      text PRIMARY KEY,
    failures      integer NOT NULL DEFAULT 0,
    blocked_until timestamptz,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_throttle_updated ON {schema}.login_throttle (updated_at);
GRANT SELECT, INSERT, UPDATE, DELETE ON {schema}.login_throttle TO {role};
