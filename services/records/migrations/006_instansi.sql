-- Issue 14: every employee belongs to an instansi, the province ("35") or a kabupaten/kota (its
-- BPS code "3501".."3579"). Everyone registered before is the province's: their stored
-- EmployeeRegistered v1 events are upcast with instansi "35" on read, and the projection rows
-- are brought to what a replay gives (the column, and the key in the record), so `simasn records
-- check` stays clean. The column has no default afterwards: every writer names the instansi.
ALTER TABLE {schema}.employees ADD COLUMN instansi text NOT NULL DEFAULT '35';
ALTER TABLE {schema}.employees ALTER COLUMN instansi DROP DEFAULT;
UPDATE {schema}.employees
   SET record = record || '{"instansi": "35"}'::jsonb
 WHERE NOT record ? 'instansi';
CREATE INDEX employees_instansi ON {schema}.employees (instansi, opd_id);

-- The changes a region pushed that records applied (records.apply_region_change, called by the
-- sync service): one row per event id, written in the transaction of the change's events, so
-- the same change delivered twice has one effect and is answered "duplicate".
CREATE TABLE {schema}.region_changes (
    event_id     uuid PRIMARY KEY,
    region       text NOT NULL,
    sequence     bigint NOT NULL,
    kind         text NOT NULL,
    nip          text NOT NULL,
    fingerprint  text NOT NULL,
    version      integer NOT NULL,
    applied_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX region_changes_region ON {schema}.region_changes (region, sequence);
GRANT SELECT, INSERT ON {schema}.region_changes TO {role};
