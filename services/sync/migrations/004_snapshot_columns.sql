-- What the snapshot loader keeps beyond 003 (issue 14 part 4): the columns the region's file
-- has (a reconciliation compares a field only where the snapshot carries it: a column the
-- region does not keep is not a difference on every row) and the file's media type.
ALTER TABLE {schema}.snapshots ADD COLUMN columns text[];
ALTER TABLE {schema}.snapshots ADD COLUMN content_type text;
