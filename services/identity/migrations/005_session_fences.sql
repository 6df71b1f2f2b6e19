-- A gateway replica that caches sessions holds a lease here (renewed every few seconds) and
-- answers every fence: an access change (logout, disabling, a role removed, ...) recorded in
-- the same transaction as its events, that identity announces to every leaseholder and waits
-- for, before it answers the change. `scope` is the RabbitMQ virtual host the holder listens on.
CREATE TABLE {schema}.session_cache_leases (
    holder uuid PRIMARY KEY,
    scope text NOT NULL,
    acquired_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX session_cache_leases_live ON {schema}.session_cache_leases (scope, expires_at);

CREATE TABLE {schema}.session_fences (
    fence_id bigserial PRIMARY KEY,
    account_ids text[] NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX session_fences_recent ON {schema}.session_fences (created_at);

GRANT SELECT, INSERT, UPDATE, DELETE ON {schema}.session_cache_leases TO {role};
GRANT SELECT, INSERT, DELETE ON {schema}.session_fences TO {role};
GRANT USAGE ON SEQUENCE {schema}.session_fences_fence_id_seq TO {role};
