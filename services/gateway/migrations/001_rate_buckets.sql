-- Login-type routes are rate limited per (client address, route, login) across every gateway
-- replica: one token bucket per key, keyed by the SHA-256 of the key (no address or login is
-- stored). Rows untouched for a day are pruned by the gateway.
CREATE TABLE {schema}.rate_buckets (
    key_hash text PRIMARY KEY,
    tokens double precision NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX rate_buckets_updated ON {schema}.rate_buckets (updated_at);
GRANT SELECT, INSERT, UPDATE, DELETE ON {schema}.rate_buckets TO {role};
