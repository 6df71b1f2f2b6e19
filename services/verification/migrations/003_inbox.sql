-- The in-app inbox: one message per request event for the employee concerned, written by the
-- event handler in the same transaction as its `consumed` row, so each is written once.
CREATE TABLE {schema}.inbox (
    notification_id  text PRIMARY KEY,
    recipient        text NOT NULL,
    request_id       text,
    event            text NOT NULL,
    title            text NOT NULL,
    body             text NOT NULL,
    created_at       timestamptz NOT NULL,
    read_at          timestamptz
);
CREATE INDEX inbox_recipient ON {schema}.inbox (recipient, created_at DESC);
GRANT SELECT, INSERT, UPDATE ON {schema}.inbox TO {role};
