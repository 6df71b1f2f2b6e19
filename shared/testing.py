"""Helpers for the test suite: throwaway databases and log schemas, and waiting on conditions
with a deadline instead of sleeping."""

from __future__ import annotations

import ssl
import time
import uuid
from collections.abc import Callable
from contextlib import contextmanager

import psycopg2
import psycopg2.errors
import pyotp
from psycopg2 import sql

from shared.migrations import create_log_schema, database_name, with_database


def create_test_database(admin_url: str, prefix: str = "simasn_test",
                         template: str | None = None) -> str:
    """A new empty database; with `template` (a `freeze_template` URL), a copy of that one:
    a migrated database in a tenth of a second instead of the seconds the migrations take."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template is not None:
        statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(database_name(template)))
    conn = psycopg2.connect(with_database(admin_url, "postgres"))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(statement)
    conn.close()
    return with_database(admin_url, name)


def freeze_template(url: str) -> None:
    """Make the (migrated) database at `url` a template nobody connects to any more: a copy
    fails while anyone, autovacuum included, is connected to its source."""
    _admin(url, "ALTER DATABASE {} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false", url)


def drop_test_database(url: str) -> None:
    _admin(url, "ALTER DATABASE {} WITH IS_TEMPLATE false", url, missing_ok=True)
    _admin(url, "DROP DATABASE IF EXISTS {} WITH (FORCE)", url)


def _admin(url: str, statement: str, database: str, missing_ok: bool = False) -> None:
    conn = psycopg2.connect(with_database(url, "postgres"))
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL(statement).format(sql.Identifier(database_name(database))))
    except psycopg2.errors.InvalidCatalogName:
        if not missing_ok:
            raise
    finally:
        conn.close()


def create_scratch_log(admin_url: str, role: str = "simasn_scratch") -> str:
    """A new, empty log schema in the test database; returns its name."""
    schema = f"log_{uuid.uuid4().hex[:12]}"
    conn = psycopg2.connect(admin_url)
    with conn, conn.cursor() as cur:
        create_log_schema(cur, schema, role, "simasn_auditor")
    conn.close()
    return schema


class TotpSteps:
    """TOTP codes a test client has not handed out yet. Identity takes each 30-second step
    once per account (a replayed code is refused) and allows one step of clock drift either
    way, so the current step and the next one may be used: two logins fit in one window. The
    step before the current one is never used: should the server's clock pass a step boundary
    before it checks the code (a loaded machine), that code would be two steps old."""

    def __init__(self):
        self.last: dict[str, int] = {}

    def code(self, login: str, secret: str) -> str:
        totp = pyotp.TOTP(secret)
        while True:
            current = int(time.time() // totp.interval)
            step = max(current, self.last.get(login, current - 1) + 1)
            if step <= current + 1:
                self.last[login] = step
                return totp.at(step * totp.interval)
            time.sleep(0.5)


def wait_for(condition: Callable[[], object], timeout: float = 30.0, interval: float = 0.05,
             message: str = "condition") -> object:
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


@contextmanager
def unpatched_ssl_context():
    """Let botocore build its (unused, plain-HTTP here) SSL context under pytest.

    A pytest plugin imports ssl and botocore before the root conftest monkey-patches, so botocore
    holds the stdlib SSLContext while `ssl.SSLContext` names eventlet's subclass, and the stdlib's
    `options` setter then recurses forever. `nameko run` patches first, so services never see this.
    """
    from eventlet.green.ssl import _original_sslcontext

    green = ssl.SSLContext
    ssl.SSLContext = _original_sslcontext
    try:
        yield
    finally:
        ssl.SSLContext = green
