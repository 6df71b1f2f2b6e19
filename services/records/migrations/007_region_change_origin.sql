-- Issue 14 part 4: a change of a region's employee comes either from the region's feed (its
-- sequence) or from a reconciliation decision to take the region's value (the reconciliation
-- and the difference, no sequence); each region_changes row says which.
ALTER TABLE {schema}.region_changes ALTER COLUMN sequence DROP NOT NULL;
ALTER TABLE {schema}.region_changes ADD COLUMN reconciliation_id uuid;
ALTER TABLE {schema}.region_changes ADD COLUMN difference_id integer;
ALTER TABLE {schema}.region_changes ADD CONSTRAINT region_changes_origin CHECK (
    (sequence IS NOT NULL AND reconciliation_id IS NULL AND difference_id IS NULL) OR
    (sequence IS NULL AND reconciliation_id IS NOT NULL AND difference_id IS NOT NULL));
CREATE INDEX region_changes_reconciliation ON {schema}.region_changes (reconciliation_id,
                                                                      difference_id)
    WHERE reconciliation_id IS NOT NULL;
