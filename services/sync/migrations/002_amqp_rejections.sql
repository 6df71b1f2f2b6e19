-- The AMQP push: messages refused (bad signature, shape, batch id...) are dead-lettered into the
-- region's log (SyncAmqpMessageRejected) and counted here for its status.
ALTER TABLE {schema}.regions ADD COLUMN amqp_rejected integer NOT NULL DEFAULT 0;
ALTER TABLE {schema}.regions ADD COLUMN last_amqp_rejection jsonb;
