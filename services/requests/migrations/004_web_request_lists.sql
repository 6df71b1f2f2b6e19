-- Lists of requests for the web application (issue 16): a pegawai's own requests, and staff's
-- requests beyond the verification queue (services/requests/usecases/lists.py). The projection
-- gains what a list shows and filters on: when the request was last changed, when it was first
-- submitted, and whether it is a disciplinary procedure (seen by BKD and the employee only),
-- all written by `_save` in the transaction of each step, and filled here from the log for the
-- requests that already exist.
ALTER TABLE {schema}.requests ADD COLUMN updated_at timestamptz,
                              ADD COLUMN submitted_at timestamptz,
                              ADD COLUMN confidential boolean NOT NULL DEFAULT false;
UPDATE {schema}.requests r SET
       updated_at = (SELECT max(e.recorded_at) FROM {schema}.events e
                      WHERE e.stream_id = 'request:' || r.request_id::text),
       submitted_at = (SELECT min(e.recorded_at) FROM {schema}.events e
                        WHERE e.stream_id = 'request:' || r.request_id::text
                          AND e.event_type = 'RequestSubmitted'),
       confidential = EXISTS (SELECT 1 FROM {schema}.events e
                               WHERE e.stream_id = 'request:' || r.request_id::text
                                 AND e.version = 1 AND e.payload->>'confidential' = 'true');
UPDATE {schema}.requests SET updated_at = created_at WHERE updated_at IS NULL;
ALTER TABLE {schema}.requests ALTER COLUMN updated_at SET NOT NULL,
                              ALTER COLUMN updated_at SET DEFAULT now();
CREATE INDEX requests_opd_created ON {schema}.requests (opd_id, created_at DESC, request_id);
CREATE INDEX requests_created ON {schema}.requests (created_at DESC, request_id);
CREATE INDEX requests_submitted ON {schema}.requests (submitted_at);
