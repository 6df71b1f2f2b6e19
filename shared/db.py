"""Database access for services: one engine per service container, built in `setup()` after
eventlet has patched the process (an engine made at import time breaks every query), and a
unit of work that writes a change and its events in one transaction."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import sqlalchemy
from nameko.extensions import DependencyProvider
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine

from shared.config import validate_config
from shared.context import ACTOR_ID, IDEMPOTENCY_KEY, event_metadata
from shared.errors import StoreUnavailable
from shared.eventstore import EventStore, NewEvent, RecordedEvent
from shared.eventtypes import EventRegistry


def sqlalchemy_url(url: str) -> str:
    """Pin the psycopg2 driver: SQLAlchemy 2.1 defaults to psycopg 3, which blocks the eventlet
    hub unless specially configured (STACK.md); eventlet greens psycopg2 itself."""
    scheme, sep, rest = url.partition("://")
    if scheme in ("postgres", "postgresql"):
        return f"postgresql+psycopg2{sep}{rest}"
    return url


#: a pooled connection unused this long is pinged (SELECT 1) before it is handed out, so one
#: PostgreSQL dropped meanwhile (a restart, an idle timeout) is replaced without an error
PING_AFTER_IDLE_SECONDS = 1.0


def make_engine(url: str, schema: str | None = None, pool_size: int = 5) -> Engine:
    connect_args = {"application_name": f"simasn-{schema or 'tool'}"}
    if schema:
        connect_args["options"] = f"-c search_path={schema},public"
    engine = sqlalchemy.create_engine(
        sqlalchemy_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        connect_args=connect_args,
    )
    _ping_when_idle(engine)
    return engine


def _ping_when_idle(engine: Engine) -> None:
    """SQLAlchemy's `pool_pre_ping`, but only for a connection idle PING_AFTER_IDLE_SECONDS or
    more. Under load a connection is back in use within milliseconds, and pinging it anyway was
    one more round trip per transaction: as much of a read's time in py-spy as the query it
    preceded (docs/design/performance.md). A ping that fails makes the pool open a fresh
    connection (DisconnectionError), as pre-ping did; a connection that dies while in steady
    use fails its transaction (StoreUnavailable, 503) and SQLAlchemy drops the pool's stale
    connections with it."""

    @event.listens_for(engine, "connect")
    def connected(dbapi_connection, record):
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkin")
    def returned(dbapi_connection, record):
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def handed_out(dbapi_connection, record, proxy):
        idle = time.monotonic() - record.info.get("returned_at", 0.0)
        if idle < PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # noqa: BLE001 - any failure: this connection is not usable
            raise sqlalchemy.exc.DisconnectionError(f"pooled connection dead: {exc}") from exc


class UnitOfWork:
    """One transaction: the service's own tables plus its event log."""

    def __init__(self, conn: Connection, store: EventStore, metadata: dict,
                 caller: str | None = None, idempotency_key: str | None = None,
                 read_only: bool = False):
        self.conn = conn
        #: opened by `ServiceDatabase.read()`: nothing may be appended (it would not be atomic)
        self.read_only = read_only
        self.store = store
        self.metadata = metadata
        #: who asked for this change and the Idempotency-Key they sent with it, if any
        #: (shared/idempotency.py)
        self.caller = caller
        self.idempotency_key = idempotency_key
        #: (stream_id, event_type) of every event appended in this transaction
        self.appended: list[tuple[str, str]] = []

    @property
    def dbapi(self):
        return self.conn.connection

    def execute(self, statement: str, params: dict | None = None):
        return self.conn.execute(text(statement), params or {})

    def append(
        self,
        stream_id: str,
        stream_type: str,
        expected_version: int | None,
        events: Sequence[NewEvent],
        reason: str | None = None,
    ) -> list[int]:
        if self.read_only:
            raise RuntimeError("a read (ServiceDatabase.read) appends no event: use transaction()")
        meta = dict(self.metadata)
        if reason is not None:
            meta["reason"] = reason
        self.appended.extend((stream_id, event.event_type) for event in events)
        return self.store.append(self.dbapi, stream_id, stream_type, expected_version, events,
                                 meta)

    def read_stream(self, stream_id: str, from_version: int = 1, as_of=None) -> list[RecordedEvent]:
        return self.store.read_stream(self.dbapi, stream_id, from_version, as_of)


class ServiceDatabase:
    """What a worker gets: transactions stamped with the worker's actor and correlation id."""

    def __init__(self, engine: Engine, store: EventStore, context: dict, config=None):
        self.engine = engine
        self.store = store
        self.context = context
        self.config = config
        # read now: the worker's RequestContext removes it from the context once the worker is
        # set up, so that the calls this worker makes do not carry it (shared/idempotency.py)
        self.idempotency_key = context.get(IDEMPOTENCY_KEY)

    @contextmanager
    def transaction(self, reason: str | None = None, **metadata) -> Iterator[UnitOfWork]:
        """Commit on success, roll back on any error; `metadata` overrides the worker's
        (e.g. causation_id for a change caused by a consumed event)."""
        meta = event_metadata(self.context, reason)
        meta.update({k: v for k, v in metadata.items() if v is not None})
        try:
            with self.engine.begin() as conn:
                yield UnitOfWork(conn, self.store, meta, self.context.get(ACTOR_ID),
                                 self.idempotency_key)
        except sqlalchemy.exc.OperationalError as exc:
            raise StoreUnavailable("the database did not answer; try again shortly") from exc

    @contextmanager
    def read(self) -> Iterator[UnitOfWork]:
        """For a read that is one statement (an account, a session): run without BEGIN and
        COMMIT, one round trip to PostgreSQL instead of three. Each statement sees its own
        snapshot, so use `transaction()` where several must agree, and for any write."""
        try:
            with self.engine.connect() as conn:
                dbapi = conn.connection.dbapi_connection
                dbapi.autocommit = True
                try:
                    yield UnitOfWork(conn, self.store, event_metadata(self.context, None),
                                     self.context.get(ACTOR_ID), self.idempotency_key,
                                     read_only=True)
                finally:
                    if not dbapi.closed:
                        dbapi.autocommit = False
        except sqlalchemy.exc.OperationalError as exc:
            raise StoreUnavailable("the database did not answer; try again shortly") from exc

    def ping(self) -> int:
        """Current head position of this service's log; raises StoreUnavailable if down."""
        try:
            with self.engine.connect() as conn:
                return self.store.head(conn.connection)[0]
        except sqlalchemy.exc.OperationalError as exc:
            raise StoreUnavailable("the database did not answer") from exc

    def relay_summary(self) -> dict:
        """How far the outbox relay of this service's log is behind (shared/relayops.py)."""
        from shared.relayops import relay_summary

        try:
            with self.engine.connect() as conn:
                return relay_summary(conn.connection, self.store.schema)
        except sqlalchemy.exc.OperationalError as exc:
            raise StoreUnavailable("the database did not answer") from exc


class Database(DependencyProvider):
    """Nameko dependency: `db = Database(REGISTRY)` on a service class."""

    def __init__(self, registry: EventRegistry | None = None):
        self.registry = registry

    def setup(self):
        config = validate_config(self.container.config)
        service = self.container.service_name
        self.config = config
        # one pooled connection per possible worker: overflow connections are opened and
        # closed per use, which showed up as ~40 new PostgreSQL sessions/s under load
        pool_size = max(config.db_pool_size, self.container.max_workers)
        self.engine = make_engine(
            config.service_database_url(service), schema=service, pool_size=pool_size
        )
        self.store = EventStore(service, self.registry)

    def stop(self):
        self.engine.dispose()

    def kill(self):
        self.engine.dispose()

    def get_dependency(self, worker_ctx):
        return ServiceDatabase(self.engine, self.store, worker_ctx.data, self.config)
