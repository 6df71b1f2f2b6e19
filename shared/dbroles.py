"""Each service's own PostgreSQL login role, and the proof that it reaches only its own schema.

`simasn migrate` creates the roles simasn_<service> and grants each exactly its work
(shared/migrations.py: USAGE on its schema, SELECT on its log and EXECUTE on its append
functions, its projection tables); `simasn db-roles` (this module) sets their passwords where the
platform does not (CloudNativePG sets them itself from its managed roles, deploy/k8s/base/
postgres.yaml) and lists every privilege one service's role holds on another service's schema.
Two cross-schema readers are by design: the auditor role reads every log, and the signing
service's role reads each log's head and its events' position and hash (no payloads) to sign
checkpoints (shared/migrations.CHECKPOINT_READER_DDL)."""

from __future__ import annotations

from psycopg2 import sql

from shared import SERVICES
from shared.migrations import ensure_role

#: (role's service, schema, table, privilege) held by design across schemas: the checkpointer
CHECKPOINT_READS = {"event_log_head": "SELECT"}


def set_passwords(cur, passwords: dict[str, str], prefix: str = "simasn_") -> list[str]:
    """LOGIN with the given password for each service in `passwords` (role created if missing);
    returns the roles changed. Passwords are sent as parameters, never logged."""
    changed = []
    for service, password in sorted(passwords.items()):
        role = prefix + service
        ensure_role(cur, role)
        cur.execute(sql.SQL("ALTER ROLE {} LOGIN PASSWORD %s").format(sql.Identifier(role)),
                    (password,))
        changed.append(role)
    return changed


def foreign_privileges(cur, prefix: str = "simasn_") -> list[tuple[str, str, str, str]]:
    """(role, schema, table, privilege) for every table privilege a service's role holds in
    another service's schema, besides the signing role's checkpoint reads."""
    found = []
    for service in SERVICES:
        role = prefix + service
        cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
        if cur.fetchone() is None:
            continue
        cur.execute(
            "SELECT n.nspname, c.relname, p.privilege FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "CROSS JOIN unnest(ARRAY['SELECT','INSERT','UPDATE','DELETE','TRUNCATE']) "
            "AS p(privilege) "
            "WHERE n.nspname = ANY(%s) AND n.nspname <> %s AND c.relkind IN ('r', 'p', 'v') "
            "AND has_table_privilege(%s, c.oid, p.privilege) ORDER BY 1, 2, 3",
            (list(SERVICES), service, role))
        for schema, table, privilege in cur.fetchall():
            if service == "signing" and CHECKPOINT_READS.get(table) == privilege:
                continue
            found.append((role, schema, table, privilege))
    return found
