-- Activation and password-reset mails take the same path as request notifications: a row here,
-- written in the transaction that makes the token, delivered by the timer (relay or outbox file,
-- retries, at most once). `kind` says which mail it is; a `sealed` body carries a token and is
-- encrypted with SECRET_ENCRYPTION_KEY until it is sent, then erased.
ALTER TABLE {schema}.email_outbox ADD COLUMN kind text NOT NULL DEFAULT 'request_notification'
    CHECK (kind IN ('request_notification', 'activation', 'reset'));
ALTER TABLE {schema}.email_outbox ADD COLUMN sealed boolean NOT NULL DEFAULT false;
