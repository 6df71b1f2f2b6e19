-- Who each checked document belongs to (issue 12): one row per (document, employee), a
-- projection of DocumentUploaded v2 events written in the same transaction. The same bytes
-- uploaded for two employees are two rows: each owner links and downloads only their own, and
-- sees only the file name they gave.
CREATE TABLE {schema}.document_owners (
    sha256       text NOT NULL REFERENCES {schema}.documents,
    nip          text NOT NULL,
    file_name    text,
    uploaded_by  text NOT NULL,
    uploaded_at  timestamptz NOT NULL DEFAULT now(),
    -- 'upload': a DocumentUploaded event; 'migration': inferred below from older data
    source       text NOT NULL DEFAULT 'upload' CHECK (source IN ('upload', 'migration')),
    PRIMARY KEY (sha256, nip)
);
CREATE INDEX document_owners_nip ON {schema}.document_owners (nip);
GRANT SELECT, INSERT ON {schema}.document_owners TO {role};

-- Documents uploaded before ownership was recorded. Only what proves who a document was
-- uploaded for counts: hashes are all an intruder needed, so a link by someone other than the
-- uploader proves nothing (such a document stays nobody's: its owner uploads it again).
-- 1. Uploaded by an employee (their account is their NIP): theirs.
INSERT INTO {schema}.document_owners (sha256, nip, file_name, uploaded_by, uploaded_at, source)
SELECT d.sha256, d.uploaded_by, d.file_name, d.uploaded_by, d.uploaded_at, 'migration'
  FROM {schema}.documents d
  JOIN {schema}.employees e ON e.nip = d.uploaded_by
ON CONFLICT DO NOTHING;

-- 2. Linked to an employee's record (a slot, a history entry, a proposal) by the account that
--    uploaded it: that employee's.
INSERT INTO {schema}.document_owners (sha256, nip, file_name, uploaded_by, uploaded_at, source)
SELECT DISTINCT d.sha256, substr(ev.stream_id, length('employee:') + 1), d.file_name,
       d.uploaded_by, d.uploaded_at, 'migration'
  FROM {schema}.events ev
  CROSS JOIN LATERAL (
        SELECT ev.payload->>'sha256' AS sha256 WHERE ev.event_type = 'DocumentAttached'
        UNION ALL
        SELECT jsonb_array_elements_text(ev.payload->'documents')
         WHERE ev.event_type IN ('HistoryEntryRecorded', 'ChangeProposed')
           AND jsonb_typeof(ev.payload->'documents') = 'array') AS linked
  JOIN {schema}.documents d
    ON d.sha256 = linked.sha256 AND d.uploaded_by = ev.metadata->>'actor_id'
 WHERE ev.stream_type = 'Employee' AND ev.stream_id LIKE 'employee:%'
ON CONFLICT DO NOTHING;

-- 3. Named on a layanan request (drafted or changed) by the account that uploaded it: the
--    request's employee's. The requests log lives in the requests schema, present in every
--    deployment that has data (absent only in a new database, where there is nothing to infer).
DO $$
BEGIN
    IF to_regclass('requests.events') IS NOT NULL
       AND to_regclass('requests.requests') IS NOT NULL THEN
        INSERT INTO {schema}.document_owners
               (sha256, nip, file_name, uploaded_by, uploaded_at, source)
        SELECT DISTINCT d.sha256, r.nip, d.file_name, d.uploaded_by, d.uploaded_at, 'migration'
          FROM requests.events ev
          JOIN requests.requests r ON ev.stream_id = 'request:' || r.request_id::text
          CROSS JOIN LATERAL jsonb_each_text(
                CASE WHEN jsonb_typeof(ev.payload->'documents') = 'object'
                     THEN ev.payload->'documents' ELSE '{}'::jsonb END) AS named(code, sha256)
          JOIN {schema}.documents d
            ON d.sha256 = named.sha256 AND d.uploaded_by = ev.metadata->>'actor_id'
         WHERE ev.event_type IN ('RequestDrafted', 'RequestDocumentsChanged')
        ON CONFLICT DO NOTHING;
    END IF;
END $$;
