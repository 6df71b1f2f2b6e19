-- Search and DUK performance (issue 15, docs/design/reporting.md "Search performance").
--
-- 1. The name order index covers what a search filters on besides the name order itself (the
--    name, the instansi and OPD of the caller's scope), so that a search sorted by name walks
--    the index in order and skips the rows that do not match without reading them from the
--    table (an index-only scan of the page's NIPs, usecases/search.py). It replaces
--    employees_name_order (same key). Measured on 500,000 rows: a common name part sorted by
--    name 34-121 ms -> 12 ms, a fasilitator's OPDs by name 47-52 ms -> 5 ms.
DROP INDEX IF EXISTS {schema}.employees_name_order;
CREATE INDEX employees_name_cover ON {schema}.employees ((lower(name) COLLATE "C"), nip)
    INCLUDE (name, instansi, opd_id);

-- 2. The Daftar Urut Kepangkatan in the regulation's order (PP 15/1979; the default order of
--    shared/reference/reporting-lists.json), so that a DUK page is an ordered walk of this
--    index from its start, never a sort of every PNS. Migration 002_lists made this index on
--    the order alone; here it also carries what a DUK page filters on (the instansi and OPD of
--    the caller's scope, the status), so that a page's NIPs can be read from the index alone
--    however deep the page (the query shape: services/reporting/usecases/plans.py,
--    docs/design/reporting.md "The DUK order and its index"). The query uses it only if it
--    says exactly this ORDER BY: these columns, in this order, with these directions and NULLS
--    placements. On a table without the lists' rank columns (a database migrated before
--    002_lists existed) the index is built on migration 001's columns instead: eselon by its
--    code in byte order (I.a < I.b < II.a ... < V.b: highest first), education by its SIASN
--    code (the higher, the higher level).
DROP INDEX IF EXISTS {schema}.employees_duk;
DO $$
BEGIN
    IF (SELECT count(*) FROM information_schema.columns
         WHERE table_schema = '{schema}' AND table_name = 'employees'
           AND column_name IN ('eselon_rank', 'diklat_level', 'education_rank')) = 3 THEN
        EXECUTE 'CREATE INDEX employees_duk ON {schema}.employees ('
                'golongan_rank DESC NULLS LAST, tmt_golongan ASC NULLS LAST, '
                'eselon_rank DESC NULLS LAST, tmt_jabatan ASC NULLS LAST, '
                'tmt_cpns ASC NULLS LAST, diklat_level DESC NULLS LAST, '
                'education_rank DESC NULLS LAST, date_of_birth ASC NULLS LAST, nip ASC) '
                'INCLUDE (instansi, opd_id, status)';
    ELSE
        EXECUTE 'CREATE INDEX employees_duk ON {schema}.employees ('
                'golongan_rank DESC NULLS LAST, tmt_golongan ASC NULLS LAST, '
                'eselon COLLATE "C" ASC NULLS LAST, tmt_jabatan ASC NULLS LAST, '
                'tmt_cpns ASC NULLS LAST, education_id DESC NULLS LAST, '
                'date_of_birth ASC NULLS LAST, nip ASC) INCLUDE (instansi, opd_id, status)';
    END IF;
END $$;
