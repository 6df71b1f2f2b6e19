-- The current record of each employee (a projection written in the same transaction as the
-- events of employee:<NIP>), for scoping by OPD and listing.
CREATE TABLE {schema}.employees (
    nip         text PRIMARY KEY,
    opd_id      text NOT NULL,
    name        text NOT NULL,
    status      text NOT NULL,
    version     integer NOT NULL,
    record      jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX employees_opd ON {schema}.employees (opd_id);
GRANT SELECT, INSERT, UPDATE ON {schema}.employees TO {role};
