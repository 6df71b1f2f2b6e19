-- The signed documents' list, a page at a time with filters (issue 16, the web application;
-- services/signing/usecases/outputs.py `listing`): newest first, for everyone, of one employee
-- or of one kind.
CREATE INDEX documents_created ON {schema}.documents (created_at DESC, document_id DESC);
CREATE INDEX documents_nip_created ON {schema}.documents (nip, created_at DESC)
    WHERE nip IS NOT NULL;
CREATE INDEX documents_type_created ON {schema}.documents (document_type, created_at DESC);
