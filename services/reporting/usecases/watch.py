"""Watching the read models keep up: every PROJECTION_WATCH_SECONDS each subscription of the
service is compared with its source log's head (asked of the source's feed, the only view of
another log a service has). One behind its head whose position has not moved for
PROJECTION_STALL_SECONDS is stalled — a handler stuck, a catch-up that cannot take its lock,
a source whose feed fails — and that is an alarm: an error in the log on every watch, and
`health` answers `degraded` naming it, until it moves again."""

from __future__ import annotations

from shared.logging import get_logger
from shared.subscriptions import Subscription, ensure

log = get_logger(__name__)

_SEEN = (
    "INSERT INTO projection_watch (name, source, head, position, behind_since, checked_at, "
    "error) VALUES (:n, :s, :head, :position, CASE WHEN :head > :position THEN now() END, "
    "now(), :error) ON CONFLICT (name, source) DO UPDATE SET "
    "head = coalesce(EXCLUDED.head, projection_watch.head), "
    "behind_since = CASE "
    "WHEN coalesce(EXCLUDED.head, projection_watch.head, 0) <= EXCLUDED.position THEN NULL "
    "WHEN projection_watch.position = EXCLUDED.position "
    "THEN coalesce(projection_watch.behind_since, now()) ELSE now() END, "
    "position = EXCLUDED.position, checked_at = now(), error = EXCLUDED.error"
)
_STATUS = (
    "SELECT name, source, head, position, error, "
    "extract(epoch FROM now() - behind_since) AS behind_seconds FROM projection_watch "
    "ORDER BY name, source"
)


def watch(db, feeds, subscriptions: list[Subscription], stall_seconds: float) -> list[dict]:
    """Note each subscription's position against its source's head; log the stalled ones."""
    for sub in subscriptions:
        with db.transaction() as uow:
            position = ensure(uow, sub)
        head, error = None, None
        try:
            head = int(feeds(sub.source).events_feed(position, 1, sub.event_types)["head"])
        except Exception as exc:  # noqa: BLE001 - a source that does not answer is noted
            error = repr(exc)[:300]
        with db.transaction() as uow:
            uow.execute(_SEEN, {"n": sub.name, "s": sub.source, "head": head,
                                "position": position, "error": error})
    with db.transaction() as uow:
        rows = status(uow, stall_seconds)
    for row in rows:
        if row["stalled"]:
            log.error("projection_stalled", subscription=row["name"], source=row["source"],
                      position=row["position"], head=row["head"], lag=row["lag"],
                      behind_seconds=row["behind_seconds"], error=row["error"])
    return rows


def status(uow, stall_seconds: float) -> list[dict]:
    """What the watch last saw of each subscription: position, head, lag, since how long it
    stands behind, whether that is a stall."""
    out = []
    for row in uow.execute(_STATUS).mappings().all():
        behind = float(row["behind_seconds"]) if row["behind_seconds"] is not None else None
        head = row["head"]
        out.append({"name": row["name"], "source": row["source"], "position": row["position"],
                    "head": head, "lag": None if head is None else max(head - row["position"], 0),
                    "behind_seconds": None if behind is None else round(behind, 1),
                    "stalled": behind is not None and behind >= stall_seconds,
                    "error": row["error"]})
    return out
