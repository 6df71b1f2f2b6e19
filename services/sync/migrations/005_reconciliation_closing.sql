-- Decisions, applying and the berita acara (issue 14 part 4): while the berita acara is being
-- produced and signed the reconciliation is `closing` — its decisions can no longer change, so
-- the signed document says what was decided — until the signed document closes it.
ALTER TABLE {schema}.reconciliations DROP CONSTRAINT reconciliations_status_check;
ALTER TABLE {schema}.reconciliations ADD CONSTRAINT reconciliations_status_check
    CHECK (status IN ('running', 'reported', 'failed', 'applying', 'applied', 'closing',
                      'closed'));
-- the applier's queue: take_region decisions not yet through records
CREATE INDEX differences_to_apply ON {schema}.differences (reconciliation_id, difference_id)
    WHERE decision = 'take_region' AND applied_at IS NULL;
