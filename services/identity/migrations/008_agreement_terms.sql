-- Issue 17 parts 1 and 4: an agreement (MoU/PKS) says what a machine client may receive - the
-- fields (confidential ones named again), the population (instansi, OPDs), the purposes - and
-- how often (requests per minute, per day); BKD may suspend it (and reinstate it) with a reason.
-- Clients registered before hold none of these: they reach no agency route until BKD records
-- terms for them (their ClientRegistered v1 events are upcast with the same empty terms).
ALTER TABLE {schema}.machine_clients
    ADD COLUMN allowed_fields      text[] NOT NULL DEFAULT '{}',
    ADD COLUMN confidential_fields text[] NOT NULL DEFAULT '{}',
    ADD COLUMN population_instansi text[] NOT NULL DEFAULT '{}',
    ADD COLUMN population_opds     text[] NOT NULL DEFAULT '{}',
    ADD COLUMN purposes            text[] NOT NULL DEFAULT '{}',
    ADD COLUMN rate_per_minute     integer NOT NULL DEFAULT 60 CHECK (rate_per_minute > 0),
    ADD COLUMN quota_per_day       integer NOT NULL DEFAULT 10000 CHECK (quota_per_day > 0),
    ADD COLUMN suspended_at        timestamptz,
    ADD COLUMN suspended_reason    text;
