-- Emails to people about their requests: queued by the event handler (once per event, with its
-- `consumed` row), delivered by a timer that marks a message before sending it, so a crash
-- can lose a message (left in 'sending' for an operator) but never send it twice.
CREATE TABLE {schema}.email_outbox (
    id            bigserial PRIMARY KEY,
    source_key    text NOT NULL UNIQUE,
    recipient     text NOT NULL,
    subject       text NOT NULL,
    body          text NOT NULL,
    status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sending',
                                                                    'sent', 'failed')),
    error         text,
    queued_at     timestamptz NOT NULL DEFAULT now(),
    sent_at       timestamptz
);
CREATE INDEX email_outbox_pending ON {schema}.email_outbox (id) WHERE status = 'pending';
GRANT SELECT, INSERT, UPDATE ON {schema}.email_outbox TO {role};
GRANT USAGE ON SEQUENCE {schema}.email_outbox_id_seq TO {role};
