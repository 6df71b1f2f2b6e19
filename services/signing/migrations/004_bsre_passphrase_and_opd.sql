-- Issue 20 part 3: with BSrE as the signer a document waits for the signing official's
-- passphrase (`waiting_passphrase`): it is never stored, so neither the timer nor a retry can
-- sign it; only the official's own call (services/signing/usecases/issuing.py
-- `sign_with_passphrase`) does.
ALTER TABLE {schema}.documents DROP CONSTRAINT documents_status_check;
ALTER TABLE {schema}.documents ADD CONSTRAINT documents_status_check CHECK (status IN (
    'pending', 'waiting_key', 'waiting_passphrase', 'failed', 'signed', 'completed', 'revoked',
    'superseded'));

-- Issue 20 part 4: the OPD of the employee a document concerns (from the record read for it),
-- so a fasilitator lists and downloads their OPDs' signed outputs; documents made before this
-- migration have none and stay BKD's and the employee's.
ALTER TABLE {schema}.documents ADD COLUMN opd_id text;
CREATE INDEX documents_opd_created ON {schema}.documents (opd_id, created_at DESC)
    WHERE opd_id IS NOT NULL;
