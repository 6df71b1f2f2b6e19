-- Regions (kabupaten/kota) that push their employees' changes, a projection of the
-- region:<code> streams plus the positions the applier and the monitor keep.
CREATE TABLE {schema}.regions (
    code              text PRIMARY KEY,
    name              text NOT NULL,
    onboarded_at      timestamptz NOT NULL DEFAULT now(),
    -- the last batch taken, and the highest sequence ever received
    last_received_at  timestamptz,
    last_sequence     bigint NOT NULL DEFAULT 0,
    -- every sequence 1..received_through has arrived; 1..applied_through is applied or skipped
    received_through  bigint NOT NULL DEFAULT 0,
    applied_through   bigint NOT NULL DEFAULT 0,
    -- since when a gap has been open, and whether it was reported
    gap_open_since    timestamptz,
    gap_reported_at   timestamptz,
    -- the feed is tried again no earlier than this after a transient failure of records
    retry_after       timestamptz,
    retry_attempts    integer NOT NULL DEFAULT 0,
    -- one applier at a time per region (replicas, overlapping ticks)
    applier           text,
    lease_until       timestamptz,
    silent_since      timestamptz
);
GRANT SELECT, INSERT, UPDATE ON {schema}.regions TO {role};

-- HMAC keys: the secret sealed with SYNC_KEY_SEAL_KEY (it must be read back to verify).
CREATE TABLE {schema}.region_keys (
    key_id        text PRIMARY KEY,
    region        text NOT NULL REFERENCES {schema}.regions (code),
    sealed_secret text NOT NULL,
    status        text NOT NULL CHECK (status IN ('active', 'retired')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    retired_at    timestamptz
);
CREATE INDEX region_keys_region ON {schema}.region_keys (region, status);
GRANT SELECT, INSERT, UPDATE ON {schema}.region_keys TO {role};

-- Every batch id a region used: a batch id is taken once, for ever.
CREATE TABLE {schema}.batches (
    region       text NOT NULL REFERENCES {schema}.regions (code),
    batch_id     text NOT NULL,
    key_id       text NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    event_count  integer NOT NULL,
    PRIMARY KEY (region, batch_id)
);
GRANT SELECT, INSERT ON {schema}.batches TO {role};

-- One row per (region, sequence): the event that holds the sequence and what became of it.
CREATE TABLE {schema}.inbound (
    region       text NOT NULL REFERENCES {schema}.regions (code),
    sequence     bigint NOT NULL CHECK (sequence > 0),
    event_id     uuid NOT NULL,
    kind         text NOT NULL,
    nip          text NOT NULL,
    data         jsonb NOT NULL,
    batch_id     text NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    status       text NOT NULL CHECK (status IN ('waiting', 'applied', 'quarantined',
                                                 'skipped')),
    attempts     integer NOT NULL DEFAULT 0,
    refusal      jsonb,
    decided_at   timestamptz,
    PRIMARY KEY (region, sequence)
);
CREATE UNIQUE INDEX inbound_event_id ON {schema}.inbound (region, event_id);
CREATE INDEX inbound_open ON {schema}.inbound (region, sequence)
    WHERE status IN ('waiting', 'quarantined');
CREATE INDEX inbound_quarantined_nip ON {schema}.inbound (region, nip)
    WHERE status = 'quarantined';
GRANT SELECT, INSERT, UPDATE ON {schema}.inbound TO {role};
