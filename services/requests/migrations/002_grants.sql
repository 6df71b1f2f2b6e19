-- One open request per employee and layanan, and what each employee was granted.
--
-- A request is open until it is completed, rejected or withdrawn. The unique index below makes
-- a second open request of the same layanan for the same NIP impossible, also when two drafts
-- race (the second insert waits for the first to commit, then finds the slot taken). Requests
-- already open twice before this rule keep going: the earliest holds the slot, the later ones
-- are marked `legacy_duplicate` (they may not be submitted while the earlier one is open:
-- services/requests/usecases/workflow.py checks every open request at submission).
ALTER TABLE {schema}.requests ADD COLUMN legacy_duplicate boolean NOT NULL DEFAULT false;
UPDATE {schema}.requests r SET legacy_duplicate = true
 WHERE r.state NOT IN ('completed', 'rejected', 'withdrawn')
   AND EXISTS (SELECT 1 FROM {schema}.requests o
                WHERE o.nip = r.nip AND o.layanan = r.layanan
                  AND o.state NOT IN ('completed', 'rejected', 'withdrawn')
                  AND (o.created_at, o.request_id) < (r.created_at, r.request_id));
CREATE UNIQUE INDEX requests_one_open ON {schema}.requests (nip, layanan)
 WHERE state NOT IN ('completed', 'rejected', 'withdrawn') AND NOT legacy_duplicate;

-- A layanan granted: one row per completed request, written in the transaction that records
-- its RequestCompleted. `tmt` is the TMT the grant took: the decree's (the approver's outcome,
-- carried by RequestCompleted v2), else the one the eligibility rules set at the last
-- submission (KGB, KP), else the day it was granted (WIB).
CREATE TABLE {schema}.grants (
    request_id   uuid PRIMARY KEY,
    nip          text NOT NULL,
    layanan      text NOT NULL,
    catalogue_version integer NOT NULL,
    options      jsonb NOT NULL DEFAULT '{}',
    tmt          date NOT NULL,
    granted_at   timestamptz NOT NULL
);
CREATE INDEX grants_nip_layanan ON {schema}.grants (nip, layanan, granted_at);

-- Requests completed before this table existed, from the log itself: each request's
-- RequestCompleted, its RequestDrafted (whose, which layanan, which options) and the TMT of its
-- last RequestSubmitted before completion (absent in events of older releases: the day).
INSERT INTO {schema}.grants (request_id, nip, layanan, catalogue_version, options, tmt,
                             granted_at)
SELECT (d.payload->>'request_id')::uuid, d.payload->>'nip', d.payload->>'layanan',
       (d.payload->>'catalogue_version')::integer, COALESCE(d.payload->'options', '{}'),
       COALESCE((c.payload->'outcome'->>'tmt')::date,
                (SELECT (s.payload->'eligibility'->>'tmt')::date FROM {schema}.events s
                  WHERE s.stream_id = c.stream_id AND s.event_type = 'RequestSubmitted'
                    AND s.version < c.version
                  ORDER BY s.version DESC LIMIT 1),
                (c.recorded_at AT TIME ZONE 'Asia/Jakarta')::date),
       c.recorded_at
  FROM {schema}.events c
  JOIN {schema}.events d ON d.stream_id = c.stream_id AND d.version = 1
 WHERE c.event_type = 'RequestCompleted' AND d.event_type = 'RequestDrafted'
ON CONFLICT (request_id) DO NOTHING;

GRANT SELECT, INSERT ON {schema}.grants TO {role};
