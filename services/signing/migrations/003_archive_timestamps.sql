-- Long-term validation (issue 20): a B-LTA document gets a fresh archive time stamp before the
-- last one's TSA certificate expires (services/signing/usecases/renewing.py). Each renewal
-- stores a new revision of the PDF (the object store is append-only, keyed by SHA-256);
-- `documents.sha256` is the newest, and every earlier revision's hash stays here so an old
-- copy (a printed QR, a downloaded file) still verifies as this document.
ALTER TABLE {schema}.documents ADD COLUMN archive_expires_at timestamptz;
CREATE INDEX documents_archive_due ON {schema}.documents (archive_expires_at)
    WHERE pades_level = 'B-LTA';
CREATE TABLE {schema}.document_revisions (
    sha256        text PRIMARY KEY,
    document_id   uuid NOT NULL,
    replaced_by   text NOT NULL,
    replaced_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX document_revisions_document ON {schema}.document_revisions (document_id);
GRANT SELECT, INSERT ON {schema}.document_revisions TO {role};
