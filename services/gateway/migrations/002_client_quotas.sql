-- Issue 17 part 4: each machine client's daily quota (its agreement's quota_per_day), counted
-- per client and day (WIB) across every gateway replica: one UPSERT per request takes one unit
-- of the day's quota under the row's lock, or none when it is used up. Days older than a week
-- are pruned by the gateway. (The per-minute rate uses rate_buckets, keyed per client.)
CREATE TABLE {schema}.client_quotas (
    client_id  text NOT NULL,
    day        date NOT NULL,
    used       integer NOT NULL,
    PRIMARY KEY (client_id, day)
);
GRANT SELECT, INSERT, UPDATE, DELETE ON {schema}.client_quotas TO {role};
