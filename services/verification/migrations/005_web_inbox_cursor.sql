-- The inbox polled by the web application (issue 16; docs/design/web-api.md "Status changes
-- reach the browser"): every notification gets a number in the order it was written, so a
-- client asks for what was written after the last number it saw (notifications are written
-- when the event is consumed, which may be after newer events' notifications were: their
-- `created_at` is the event's time and is no cursor). The unread count uses the partial index.
ALTER TABLE {schema}.inbox ADD COLUMN seq bigserial;
CREATE UNIQUE INDEX inbox_recipient_seq ON {schema}.inbox (recipient, seq);
CREATE INDEX inbox_unread ON {schema}.inbox (recipient) WHERE read_at IS NULL;
GRANT USAGE ON SEQUENCE {schema}.inbox_seq_seq TO {role};
