"""Catch-up subscriptions: a consumer reads another service's log from any position, through a
paged feed that service serves, and then continues live on the bus.

- **Subscription.** Every `idempotent_handler` belongs to one, named for the read model or process
  it feeds (`verification.queue`; by default the service's name). A subscription has one stored
  position per source log (`subscriptions` table in the consumer's schema). A handler takes some
  event types only, so the position means "every event *of this subscription's types* up to here
  is handled (or parked as a dead letter)".
- **Feed.** Every service answers `events_feed(after, limit, event_types)` (shared/service.py):
  the envelopes the outbox relay publishes (shared/envelopes.py, so the bus and the feed cannot
  differ), the position through which the page is complete (`until`), and the log's `head`.
  Only services may call it (a caller token vouching for a system caller).
- **Live.** An event at position p: if the stored position is p - 1 nothing can be missing, the
  event is handled and the position moves to p in the same transaction. Beyond that, events of
  our types may be missing (lost on the way, published before our queue existed): the range is
  fetched from the feed and handled in order first. If the feed cannot be reached the live
  event is handled all the same and the position stays where it was, so the gap is still known
  (never waiting for ever); the next event or the periodic sweep fills it.
- **Sweep.** At start and every SUBSCRIPTION_SWEEP_SECONDS each subscription catches up from its
  position to the source's head: a new consumer reads the history, a rebuild (`simasn
  projections rebuild`, shared/projections_admin.py) replays from zero.
- **Pages.** A read model whose handlers only write its own tables (no events appended, nothing
  read from the worker's context) may be caught up a page at a time: `batched_catch_up` on the
  service class maps such a subscription to a page function `fn(uow, events)` (or None: its
  handlers called in turn). The page's markers (one statement), effects and position are one
  transaction, instead of one transaction per event. If any event of the page cannot be read
  or the page's handling raises, that transaction rolls back and the page is handled one event
  at a time as usual (retried, parked alone), so a poison event costs its page the fast path.
- **Once.** The `consumed` marker (consumer, source, position) is written in the transaction of
  the effect: a live delivery and the catch-up of the same event cannot both apply it, whichever
  commits second finds the marker and does nothing. Only one catch-up runs per subscription at a
  time (a PostgreSQL advisory lock); a live worker that finds one running does not wait for it.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from nameko.timer import Timer
from sqlalchemy import text

from shared.consumer import ReceivedEvent, _consume
from shared.context import CORRELATION_ID
from shared.envelopes import public_envelope
from shared.errors import ConfigError, ValidationFailed
from shared.logging import get_logger
from shared.rpc import RpcProxy, _ServiceProxy

log = get_logger(__name__)

#: events per feed page: asked for by default, and the most a page may hold
FEED_PAGE = 200
FEED_PAGE_MAX = 500
SWEEP_SECONDS = 10.0


# -- what a service declares -------------------------------------------------------------------


@dataclass(frozen=True)
class Handler:
    event_type: str
    consumer: str  # the `consumed` marker's consumer name: "<service>.<method>"
    fn: Callable
    db_attr: str


@dataclass
class Subscription:
    name: str
    source: str
    handlers: dict[str, Handler] = field(default_factory=dict)

    @property
    def event_types(self) -> list[str]:
        return sorted(self.handlers)

    @property
    def consumers(self) -> list[str]:
        return sorted({h.consumer for h in self.handlers.values()})


def declared(cls) -> dict[tuple[str, str], Subscription]:
    """The subscriptions of a service class, keyed (name, source), from its idempotent
    handlers. An event type has at most one handler per subscription: the position counts each
    event once."""
    out: dict[tuple[str, str], Subscription] = {}
    for _, method in inspect.getmembers(cls, inspect.isfunction):
        spec = getattr(method, "subscribes", None)
        if spec is None:
            continue
        name, source, event_type, fn, db_attr = spec
        key = (name or cls.name, source)
        sub = out.setdefault(key, Subscription(key[0], source))
        if event_type in sub.handlers:
            raise ConfigError(f"subscription {key[0]} handles {source} {event_type} twice",
                              field="subscription")
        sub.handlers[event_type] = Handler(event_type, f"{cls.name}.{fn.__name__}", fn, db_attr)
    return out


def _subscription_of(service, fn, source: str, event_type: str) -> Subscription:
    cache = type(service).__dict__.get("_declared_subscriptions")
    if cache is None:
        cache = declared(type(service))
        type(service)._declared_subscriptions = cache
    for sub in cache.values():
        handler = sub.handlers.get(event_type)
        if sub.source == source and handler is not None and handler.fn is fn:
            return sub
    raise LookupError(f"{service.name}: no subscription handles {source} {event_type}")


# -- the source's side: the feed ---------------------------------------------------------------


def feed_arguments(after, limit, event_types) -> tuple[int, int, list[str] | None]:
    if not isinstance(after, int) or isinstance(after, bool) or after < 0:
        raise ValidationFailed("after must be a position (an integer >= 0)", field="after")
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= FEED_PAGE_MAX:
        raise ValidationFailed(f"limit must be between 1 and {FEED_PAGE_MAX}", field="limit")
    if event_types is not None:
        if (not isinstance(event_types, list) or len(event_types) > 200
                or not all(isinstance(t, str) and 0 < len(t) <= 100 for t in event_types)):
            raise ValidationFailed("event_types must be a list of event type names",
                                   field="event_types")
    return after, limit, event_types


def read_feed(conn, store, service: str, after: int, limit: int,
              event_types: list[str] | None) -> dict:
    """One page of the log after `after`, as the bus carries it. `until`: every event of the
    types asked for up to it is in this page or an earlier one (the head row is read first, so
    nothing below it can commit later; shared/eventstore.py)."""
    head = store.head(conn)[0]
    events = store.read_types(conn, after, head, limit, event_types)
    until = events[-1].position if len(events) == limit else max(head, after)
    return {"source": service, "head": head, "until": until,
            "events": [public_envelope(e, service, store.registry) for e in events]}


# -- the consumer's side: positions -------------------------------------------------------------


def ensure(uow, sub: Subscription) -> int:
    """The stored position, created on first use: where this subscription's handlers got to
    before subscriptions existed (the highest event they consumed), else 0 (the whole log)."""
    params = {"n": sub.name, "s": sub.source}
    found = uow.execute("SELECT position FROM subscriptions WHERE name = :n AND source = :s",
                        params).scalar()
    if found is not None:
        return found
    uow.execute(
        "INSERT INTO subscriptions (name, source, position) SELECT :n, :s, "
        "coalesce(max(position), 0) FROM consumed WHERE consumer = ANY(:c) AND source = :s "
        "ON CONFLICT DO NOTHING",
        {**params, "c": sub.consumers})
    return uow.execute("SELECT position FROM subscriptions WHERE name = :n AND source = :s",
                       params).scalar_one()


def _advance(uow, sub: Subscription, position: int, contiguous: bool) -> None:
    """Move the position forward: to `position` if it was just below it (`contiguous`, a live
    event), or to at least `position` (the caller read everything up to it in order)."""
    where = " AND position = :p - 1" if contiguous else " AND position < :p"
    uow.execute("UPDATE subscriptions SET position = :p, updated_at = now() "  # noqa: S608 - a fixed choice of two literals; every value is a bound parameter
                "WHERE name = :n AND source = :s" + where,
                {"p": position, "n": sub.name, "s": sub.source})


class _Tracker:
    """`track` for `_consume`: the position moves in the handler's transaction; if the event was
    parked instead (that transaction rolled back), `settle` moves it afterwards."""

    def __init__(self, sub: Subscription, contiguous: bool):
        self.sub, self.contiguous, self.tracked = sub, contiguous, False

    def __call__(self, uow, event: ReceivedEvent) -> None:
        _advance(uow, self.sub, event.position, self.contiguous)
        self.tracked = True

    def settle(self, db, position: int) -> None:
        if not self.tracked:
            with db.transaction() as uow:
                _advance(uow, self.sub, position, self.contiguous)


# -- the consumer's side: live delivery and catch-up --------------------------------------------


def deliver(service, fn, source: str, event_type: str, envelope, db_attr: str):
    """A live event from the bus: fill the gap before it from the feed, then handle it."""
    db = getattr(service, db_attr)
    sub = _subscription_of(service, fn, source, event_type)
    try:
        position = ReceivedEvent.from_envelope(envelope).position
    except Exception:  # noqa: BLE001 - `_consume` parks what it cannot read
        return _consume(service, fn, source, event_type, envelope, db_attr)
    with db.transaction() as uow:
        known = ensure(uow, sub)
    if position > known + 1:
        try:
            catch_up(service, sub, through=position)
        except Exception as exc:  # noqa: BLE001 - never wait for the feed: handle the live event
            log.warning("subscription_gap_unfilled", subscription=sub.name, source=source,
                        known=known, live=position, error=repr(exc)[:300])
    tracker = _Tracker(sub, contiguous=True)
    result = _consume(service, fn, source, event_type, envelope, db_attr, track=tracker)
    tracker.settle(db, position)
    return result


def lock_key(schema: str, name: str, source: str) -> str:
    """The advisory lock a catch-up holds (and a rebuild's reset waits for)."""
    return f"simasn.subscription.{schema}.{name}.{source}"


@contextmanager
def _catching_up(db, sub: Subscription) -> Iterator[bool]:
    """Whether this process may catch `sub` up now (no one else is): a session advisory lock
    on a connection of its own, released at the end (or when the connection dies)."""
    key = lock_key(db.store.schema, sub.name, sub.source)
    with db.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        held = conn.execute(text("SELECT pg_try_advisory_lock(hashtext(:k))"), {"k": key}).scalar()
        try:
            yield bool(held)
        finally:
            if held:
                conn.execute(text("SELECT pg_advisory_unlock(hashtext(:k))"), {"k": key})


def catch_up(service, sub: Subscription, through: int | None = None,
             page_size: int = FEED_PAGE) -> int | None:
    """Read the source's feed from the stored position and handle each event of `sub`'s types
    in order, until the source's head (or, for a live gap, until `through`). Returns the new
    position, or None when another catch-up of `sub` is running."""
    db = getattr(service, next(iter(sub.handlers.values())).db_attr)
    batched = sub.name in getattr(type(service), "batched_catch_up", ())
    if batched:  # a page costs one transaction: the largest page the feed serves
        page_size = max(page_size, FEED_PAGE_MAX)
    with _catching_up(db, sub) as held:
        if not held:
            return None
        with db.transaction() as uow:
            position = ensure(uow, sub)
        while True:
            page = service.feeds(sub.source).events_feed(position, page_size, sub.event_types)
            if not (batched and _handle_page(service, sub, page["events"], db)):
                for envelope in page["events"]:
                    _handle_fetched(service, sub, envelope, db)
            until = int(page["until"])
            if until > position:
                with db.transaction() as uow:
                    _advance(uow, sub, until, contiguous=False)
            done = until <= position or until >= page["head"]
            position = max(position, until)
            if done or (through is not None and position >= through):
                return position


def _handle_page(service, sub: Subscription, envelopes: list[dict], db) -> bool:
    """A whole feed page in one transaction: each event's `consumed` marker and effect, then the
    position past the page. False, with nothing written, when an event cannot be read or a
    handler raises: the caller then handles the page one event at a time."""
    try:
        events = [(sub.handlers.get(e.get("event_type")), ReceivedEvent.from_envelope(e))
                  for e in envelopes]
    except Exception:  # noqa: BLE001 - the one-at-a-time path parks what it cannot read
        return False
    if not events:
        return True
    page_fn = type(service).batched_catch_up[sub.name]
    ours = [(h, e) for h, e in events if h is not None]  # a type not asked for: not ours
    try:
        with db.transaction(actor_id=f"service:{service.name}", actor_role="system") as uow:
            fresh = {row[0] for row in uow.execute(
                "INSERT INTO consumed (consumer, source, position, event_id) SELECT * FROM "
                "unnest(CAST(:consumers AS text[]), CAST(:sources AS text[]), "
                "CAST(:positions AS bigint[]), CAST(:ids AS uuid[])) "
                "ON CONFLICT DO NOTHING RETURNING position",
                {"consumers": [h.consumer for h, _ in ours],
                 "sources": [sub.source] * len(ours),
                 "positions": [e.position for _, e in ours],
                 "ids": [e.event_id for _, e in ours]}).all()} if ours else set()
            todo = [(h, e) for h, e in ours if e.position in fresh]
            if page_fn is not None:
                page_fn(uow, [e for _, e in todo])
            else:
                for handler, event in todo:
                    handler.fn(service, uow, event)
            _advance(uow, sub, events[-1][1].position, contiguous=False)
    except Exception as exc:  # noqa: BLE001 - rolled back: handled one at a time instead
        log.info("subscription_page_one_by_one", subscription=sub.name, source=sub.source,
                 first=events[0][1].position, error=repr(exc)[:300])
        return False
    return True


def _handle_fetched(service, sub: Subscription, envelope: dict, db) -> None:
    handler = sub.handlers.get(envelope.get("event_type"))
    if handler is None:  # the feed answered a type not asked for: not ours to handle
        return
    context = service.context
    saved = context.get(CORRELATION_ID)
    correlation = (envelope.get("metadata") or {}).get("correlation_id")
    if correlation:
        context[CORRELATION_ID] = correlation  # as the bus would have carried it
    try:
        tracker = _Tracker(sub, contiguous=False)
        _consume(service, handler.fn, sub.source, handler.event_type, envelope,
                 handler.db_attr, track=tracker)
        if isinstance(envelope.get("position"), int):
            tracker.settle(db, envelope["position"])
    finally:
        context[CORRELATION_ID] = saved


def sweep(service) -> None:
    """Catch every subscription of `service` up to its source's head (at start, then on a
    timer): a new consumer reads the history, a reset one is rebuilt, a lost tail is found."""
    for sub in declared(type(service)).values():
        try:
            catch_up(service, sub)
        except Exception as exc:  # noqa: BLE001 - a source that is down is tried next time
            log.warning("subscription_sweep_failed", subscription=sub.name, source=sub.source,
                        error=repr(exc)[:300])


# -- Nameko extensions ---------------------------------------------------------------------------


class FeedProxy(RpcProxy):
    """`self.feeds(source).events_feed(...)`: the source's feed, called as this service (a
    system caller with a service token), whatever actor the worker's own context names."""

    def __init__(self, **options):
        super().__init__("events_feed", **options)

    def get_dependency(self, worker_ctx):
        def feed(source: str):
            ctx = copy.copy(worker_ctx)
            ctx.data = {"actor_id": f"service:{self.container.service_name}",
                        "actor_role": "system", "actor_roles": ["system"],
                        CORRELATION_ID: worker_ctx.data.get(CORRELATION_ID)}
            return _ServiceProxy(ctx, source, self.rpc_reply_listener, callers=self.callers,
                                 timeout=self.timeout, **self.options)

        return feed


class Sweep(Timer):
    """A timer firing at start and every SUBSCRIPTION_SWEEP_SECONDS (default 10), only in a
    service that subscribes to something."""

    def __init__(self, **kwargs):
        super().__init__(SWEEP_SECONDS, eager=True, **kwargs)

    def setup(self):
        raw = self.container.config.get("SUBSCRIPTION_SWEEP_SECONDS", SWEEP_SECONDS)
        try:
            self.interval = float(raw)
        except (TypeError, ValueError):
            self.interval = 0.0
        if not 0.1 <= self.interval <= 86400:
            raise ConfigError("config key SUBSCRIPTION_SWEEP_SECONDS: seconds between 0.1 and "
                              "86400", field="SUBSCRIPTION_SWEEP_SECONDS")

    def start(self):
        if declared(self.container.service_cls):
            super().start()

    def stop(self):
        if self.gt is not None:
            super().stop()

    def kill(self):
        if self.gt is not None:
            super().kill()


sweep_timer = Sweep.decorator
