"""What `simasn projections status|rebuild` does: how far each consumer has read each source
log, and rebuilding one read model from zero (shared/subscriptions.py).

A rebuild empties the read model as its service declares (`rebuildable` on the service class:
the statements that reset its tables), forgets its `consumed` markers and sets its positions
to zero, all in one transaction. The running service's sweep then replays the source logs
through their feeds and goes on live; this command follows the positions with a progress bar.
A subscription whose effects reach beyond its own tables (mail already sent, documents
signed) declares no reset and cannot be rebuilt."""

from __future__ import annotations

import time
from dataclasses import dataclass

from psycopg2 import sql

from shared.errors import NotFound, ValidationFailed
from shared.progress import Progress
from shared.subscriptions import Subscription, declared, lock_key


@dataclass(frozen=True)
class Projection:
    name: str
    schema: str  # the consumer's service (its schema)
    subscriptions: tuple[Subscription, ...]
    reset: tuple[str, ...] | None  # None: not rebuildable


def declared_projections(classes: dict[str, type]) -> dict[str, Projection]:
    """Every subscription the services declare, by name (`classes`: each service's Nameko
    class, from services/registry.py)."""
    found: dict[str, Projection] = {}
    for service, cls in classes.items():
        rebuildable = getattr(cls, "rebuildable", {})
        grouped: dict[str, list[Subscription]] = {}
        for (name, _), sub in declared(cls).items():
            grouped.setdefault(name, []).append(sub)
        for name, subs in grouped.items():
            reset = rebuildable.get(name)
            found[name] = Projection(name, service, tuple(subs),
                                     tuple(reset) if reset is not None else None)
    return found


def _schema_has(cur, schema: str, table: str) -> bool:
    cur.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{schema}.{table}",))
    return cur.fetchone()[0]


def _head(cur, source: str) -> int | None:
    if not _schema_has(cur, source, "event_log_head"):
        return None
    cur.execute(sql.SQL("SELECT last_position FROM {}.event_log_head WHERE id = 1").format(
        sql.Identifier(source)))
    row = cur.fetchone()
    return row[0] if row else 0


#: a consumer behind its source whose position has not moved for this long is stalled (the
#: reporting service's PROJECTION_STALL_SECONDS has the same default)
STALL_SECONDS = 300.0


def status(conn, schemas, projections: dict[str, Projection] | None = None,
           stall_seconds: float = STALL_SECONDS) -> list[dict]:
    """One row per (consumer, source): position, the source's head, the lag between them, and
    `stalled`: behind, and the position unmoved for `stall_seconds` (a sweep that runs moves it
    whenever the source grew, even by events of other types). A declared subscription that
    never ran shows no position (its lag is the whole log; not judged stalled)."""
    rows: dict[tuple[str, str], dict] = {}
    with conn.cursor() as cur:
        cur.execute("SELECT now()")
        now = cur.fetchone()[0]
        for schema in schemas:
            if not _schema_has(cur, schema, "subscriptions"):
                continue
            cur.execute(sql.SQL("SELECT name, source, position, updated_at FROM "
                                "{}.subscriptions ORDER BY name, source").format(
                                    sql.Identifier(schema)))
            for name, source, position, updated in cur.fetchall():
                rows[(name, source)] = {"consumer": name, "service": schema, "source": source,
                                        "position": position, "updated_at": updated}
        for projection in (projections or {}).values():
            for sub in projection.subscriptions:
                rows.setdefault((sub.name, sub.source), {
                    "consumer": sub.name, "service": projection.schema, "source": sub.source,
                    "position": None, "updated_at": None})
        for row in rows.values():
            head = _head(cur, row["source"])
            row["head"] = head
            row["lag"] = None if head is None else head - (row["position"] or 0)
            row["stalled"] = bool(row["position"] is not None and row["lag"]
                                  and (now - row["updated_at"]).total_seconds() >= stall_seconds)
            if projections is not None and row["consumer"] in projections:
                row["rebuildable"] = projections[row["consumer"]].reset is not None
    conn.rollback()
    return sorted(rows.values(), key=lambda r: (r["consumer"], r["source"]))


def reset(conn, projection: Projection) -> dict[str, int]:
    """Empty the read model and set its positions to zero, in one transaction; returns each
    source's head at that moment (what the replay must reach)."""
    if projection.reset is None:
        raise ValidationFailed(
            f"{projection.name} cannot be rebuilt: its effects reach beyond its own tables "
            "(mail sent, documents signed)", field="name")
    heads = {}
    with conn, conn.cursor() as cur:
        schema = sql.Identifier(projection.schema)
        cur.execute(sql.SQL("SET LOCAL search_path TO {}, public").format(schema))
        for sub in projection.subscriptions:  # a catch-up running now finishes first
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))",
                        (lock_key(projection.schema, sub.name, sub.source),))
        cur.execute("SELECT 1 FROM subscriptions WHERE name = %s FOR UPDATE", (projection.name,))
        for statement in projection.reset:
            cur.execute(statement)
        for sub in projection.subscriptions:
            cur.execute("DELETE FROM consumed WHERE consumer = ANY(%s) AND source = %s",
                        (sub.consumers, sub.source))
            cur.execute("INSERT INTO subscriptions (name, source, position) VALUES (%s, %s, 0) "
                        "ON CONFLICT (name, source) DO UPDATE SET position = 0, "
                        "updated_at = now()", (sub.name, sub.source))
            heads[sub.source] = _head(cur, sub.source) or 0
    return heads


def follow(conn, projection: Projection, heads: dict[str, int], timeout: float,
           progress: bool | None = None, interval: float = 0.2) -> bool:
    """Wait until every source's position reached its head of the reset, drawing a progress
    bar; False when `timeout` passed first (the service is not running, or is slow)."""
    bar = Progress(f"rebuild {projection.name}", sum(heads.values()), enabled=progress)
    deadline = time.monotonic() + timeout
    query = sql.SQL("SELECT source, position FROM {}.subscriptions WHERE name = %s").format(
        sql.Identifier(projection.schema))
    try:
        while True:
            with conn.cursor() as cur:
                cur.execute(query, (projection.name,))
                positions = dict(cur.fetchall())
            conn.rollback()
            done = sum(min(positions.get(s, 0), head) for s, head in heads.items())
            if done > bar.done:
                bar.advance(done - bar.done)
            if all(positions.get(s, 0) >= head for s, head in heads.items()):
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(interval)
    finally:
        bar.close()


def find(projections: dict[str, Projection], name: str) -> Projection:
    projection = projections.get(name)
    if projection is None:
        raise NotFound(f"no consumer named {name!r}; known: {', '.join(sorted(projections))}",
                       field="name")
    return projection
