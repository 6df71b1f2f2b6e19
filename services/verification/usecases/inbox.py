"""The employee's in-app inbox: one notification per request step they are told of (the text
is shared with identity's email, `shared/notifications.py`), read by its recipient alone."""

from __future__ import annotations

from shared.auth import Principal
from shared.errors import NotFound
from shared.notifications import document_notification, notification_for


def notify(uow, event) -> None:
    """The employee's inbox message for this step (once: keyed by the event's position)."""
    message = notification_for(event.event_type, event.payload)
    recipient = event.payload.get("nip")
    if message is None or not recipient:
        return
    uow.execute(
        "INSERT INTO inbox (notification_id, recipient, request_id, event, title, body, "
        "created_at) VALUES (:id, :to, :r, :e, :t, :b, CAST(:at AS timestamptz)) "
        "ON CONFLICT DO NOTHING",
        {"id": f"{event.source}:{event.position}", "to": recipient,
         "r": event.stream_id.split(":", 1)[1], "e": event.event_type, "t": message[0],
         "b": message[1], "at": event.recorded_at})


def document_changed(uow, event, document: dict) -> None:
    """A signing event about an output document (`document`: the signing service's view of
    it): its employee is told it was signed, revoked or replaced (once: keyed by the event's
    position in the signing log). The notification names the document in `request_id`."""
    message = document_notification(event.event_type, document)
    if message is None or not document.get("nip"):
        return
    uow.execute(
        "INSERT INTO inbox (notification_id, recipient, request_id, event, title, body, "
        "created_at) VALUES (:id, :to, :r, :e, :t, :b, CAST(:at AS timestamptz)) "
        "ON CONFLICT DO NOTHING",
        {"id": f"{event.source}:{event.position}", "to": document["nip"],
         "r": document["document_id"], "e": event.event_type, "t": message[0],
         "b": message[1], "at": event.recorded_at})


def listing(uow, actor: Principal, unread_only: bool) -> list[dict]:
    """The caller's notifications, newest first (only the unread ones when asked)."""
    rows = uow.execute(
        "SELECT notification_id, request_id, event, title, body, created_at, read_at "
        "FROM inbox WHERE recipient = :me AND (NOT :unread OR read_at IS NULL) "
        "ORDER BY created_at DESC, notification_id DESC LIMIT 200",
        {"me": actor.account_id, "unread": bool(unread_only)}).mappings().all()
    return [{k: (v.isoformat() if hasattr(v, "isoformat") else v)
             for k, v in dict(row).items()} for row in rows]


def updates(uow, actor: Principal, after: int, limit: int) -> dict:
    """What the web application polls (docs/design/web-api.md): the caller's notifications
    written after cursor `after` (oldest first, at most `limit`; `has_more` when there are
    more), the number of unread ones, and the cursor to send next time. Cheap: two index
    scans, whatever the inbox's size."""
    rows = uow.execute(
        "SELECT seq, notification_id, request_id, event, title, body, created_at, read_at "
        "FROM inbox WHERE recipient = :me AND seq > :after ORDER BY seq LIMIT :n",
        {"me": actor.account_id, "after": after, "n": limit + 1}).mappings().all()
    more = len(rows) > limit
    rows = rows[:limit]
    unread = uow.execute("SELECT count(*) FROM inbox WHERE recipient = :me AND read_at IS NULL",
                         {"me": actor.account_id}).scalar_one()
    items = [{k: (v.isoformat() if hasattr(v, "isoformat") else v)
              for k, v in dict(row).items() if k != "seq"} for row in rows]
    return {"items": items, "unread": unread, "has_more": more,
            "cursor": str(rows[-1]["seq"]) if rows else str(after)}


def mark_read(uow, actor: Principal, notification_id) -> dict:
    """Mark one of the caller's notifications read (the first reading time stays)."""
    row = uow.execute("UPDATE inbox SET read_at = coalesce(read_at, now()) WHERE "
                      "notification_id = :n AND recipient = :me RETURNING notification_id",
                      {"n": str(notification_id)[:80], "me": actor.account_id}).first()
    if row is None:
        raise NotFound("pemberitahuan tidak ditemukan", field="notification_id")
    return {"notification_id": row[0], "read": True}
