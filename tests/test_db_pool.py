"""The services' connection pool (shared/db.py `make_engine`): a connection idle for a while is
pinged before it is handed out, so one PostgreSQL dropped is replaced without an error; one
back in use at once is not pinged (a round trip per transaction under load)."""

from __future__ import annotations

import psycopg2
import pytest
import sqlalchemy
from sqlalchemy import text

from shared import db


def _backend_pid(engine) -> int:
    with engine.begin() as conn:
        return conn.execute(text("SELECT pg_backend_pid()")).scalar_one()


def _terminate(database_url: str, pid: int) -> None:
    conn = psycopg2.connect(database_url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(%s)", (pid,))
    finally:
        conn.close()


@pytest.fixture
def engine(database_url):
    made = db.make_engine(database_url, pool_size=1)
    yield made
    made.dispose()


@pytest.fixture
def pings(engine, monkeypatch):
    """How often the pool pinged (the dialect's own ping, counted as it runs)."""
    count = [0]
    ping = engine.dialect.do_ping

    def counted(dbapi_connection):
        count[0] += 1
        return ping(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    return count


def test_a_dropped_connection_idle_long_enough_is_replaced_without_an_error(
        engine, pings, database_url, monkeypatch):
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)  # every checkout counts as idle
    first = _backend_pid(engine)
    _terminate(database_url, first)
    assert _backend_pid(engine) != first  # the ping found it dead; a new connection served
    assert pings[0] >= 1


def test_a_connection_back_in_use_at_once_is_not_pinged(engine, pings, monkeypatch):
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 60.0)
    pids = {_backend_pid(engine) for _ in range(5)}
    assert len(pids) == 1 and pings[0] == 0


def test_a_connection_dropped_while_in_steady_use_fails_once_then_the_pool_recovers(
        engine, database_url, monkeypatch):
    """The price of not pinging busy connections: the one transaction on the dead connection
    fails (a service answers StoreUnavailable, 503); SQLAlchemy then drops it, and the next
    transaction gets a fresh one."""
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 60.0)
    first = _backend_pid(engine)
    _terminate(database_url, first)
    with pytest.raises(sqlalchemy.exc.OperationalError):
        _backend_pid(engine)
    assert _backend_pid(engine) != first


def test_a_read_runs_without_begin_and_commit_and_appends_nothing(engine):
    """`ServiceDatabase.read()`: the statement runs in autocommit (no transaction is left open
    around it: one round trip), the connection goes back to the pool as it was, and an append
    there is refused (it would not be atomic with anything)."""
    from psycopg2.extensions import TRANSACTION_STATUS_IDLE, TRANSACTION_STATUS_INTRANS

    from shared.eventstore import EventStore

    database = db.ServiceDatabase(engine, EventStore("identity"), {"actor_id": "a"})
    with database.read() as uow:
        assert uow.execute("SELECT 1").scalar_one() == 1
        assert uow.dbapi.get_transaction_status() == TRANSACTION_STATUS_IDLE
        with pytest.raises(RuntimeError):
            uow.append("s-1", "Thing", None, [])
    with database.transaction() as uow:
        assert uow.execute("SELECT 1").scalar_one() == 1
        assert uow.dbapi.get_transaction_status() == TRANSACTION_STATUS_INTRANS
        assert not uow.dbapi.autocommit
