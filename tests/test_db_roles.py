"""Per-service database roles on real PostgreSQL: records' role does its own work and cannot
read or write identity's schema; no service role holds a privilege on another's schema except
the signing role's checkpoint reads; `simasn db-roles` sets passwords idempotently."""

from __future__ import annotations

import uuid

import psycopg2
import pytest

from shared.config import with_user
from shared.dbroles import foreign_privileges, set_passwords
from simasn_cli.main import main


def _as(database_url: str, role: str):
    conn = psycopg2.connect(with_user(database_url, role))
    conn.autocommit = True
    return conn


def test_records_role_works_in_its_schema_and_cannot_touch_identitys(database_url):
    conn = _as(database_url, "simasn_records")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT last_position FROM records.event_log_head")
            assert cur.fetchone()[0] >= 0
            cur.execute("SELECT count(*) FROM records.employees")
            cur.execute("BEGIN")
            cur.execute("INSERT INTO records.consumed (consumer, source, position, event_id) "
                        "VALUES ('test-db-roles', 'requests', 1, %s)", (str(uuid.uuid4()),))
            cur.execute("ROLLBACK")
            for statement in ("SELECT * FROM identity.events LIMIT 1",
                              "SELECT * FROM identity.accounts LIMIT 1",
                              "INSERT INTO identity.consumed (consumer, source, position, "
                              "event_id) VALUES ('x', 'y', 1, gen_random_uuid())",
                              "SELECT * FROM requests.events LIMIT 1"):
                with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                    cur.execute(statement)
    finally:
        conn.close()


def test_no_service_role_reaches_another_services_schema(admin_conn):
    with admin_conn.cursor() as cur:
        assert foreign_privileges(cur) == []


def test_foreign_privileges_sees_a_stray_grant(admin_conn):
    """The check can fail: a grant of identity's accounts to records is reported."""
    with admin_conn.cursor() as cur:
        cur.execute("SAVEPOINT stray")
        cur.execute("GRANT SELECT ON identity.accounts TO simasn_records")
        try:
            assert ("simasn_records", "identity", "accounts", "SELECT") in foreign_privileges(cur)
        finally:
            cur.execute("ROLLBACK TO SAVEPOINT stray")


def test_set_passwords_is_idempotent(admin_conn):
    role_prefix = f"simasn_t{uuid.uuid4().hex[:6]}_"
    with admin_conn.cursor() as cur:
        cur.execute("SAVEPOINT passwords")
        try:
            for _ in range(2):
                assert set_passwords(cur, {"records": "s3cret-one"}, role_prefix) == [
                    role_prefix + "records"]
            cur.execute("SELECT rolcanlogin, rolpassword IS NOT NULL FROM pg_authid "
                        "WHERE rolname = %s", (role_prefix + "records",))
            assert cur.fetchone() == (True, True)
        finally:
            cur.execute("ROLLBACK TO SAVEPOINT passwords")


def test_db_roles_command_checks_the_database(database_url, monkeypatch, capsys):
    monkeypatch.delenv("SIMASN_CONFIG", raising=False)
    monkeypatch.setenv("SIMASN_DATABASE_URL", database_url)
    assert main(["db-roles", "--check"]) == 0
    assert "no service role reaches another service's schema" in capsys.readouterr().out
    assert main(["migrate", "--skip-broker", "--check-roles"]) == 0
    assert "no service role reaches" in capsys.readouterr().out
