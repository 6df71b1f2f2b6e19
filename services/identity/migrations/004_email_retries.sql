-- A message the relay refused is tried again later (a few times, further apart each time);
-- one left 'sending' by a crash is not: it may have gone out, and a person is never mailed twice.
ALTER TABLE {schema}.email_outbox ADD COLUMN attempts integer NOT NULL DEFAULT 0;
ALTER TABLE {schema}.email_outbox ADD COLUMN next_attempt_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX email_outbox_retry ON {schema}.email_outbox (next_attempt_at) WHERE status = 'failed';
