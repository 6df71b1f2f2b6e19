"""What an operator sees of and asks of the outbox relays (shared/relay.py): per service log its
head, each relay's position and lag, which session leads, the events held (their upcaster or
redactor raised) and the events the broker returned (no queue bound); and a request that the
leader offer held and returned events again (after a fix, or once a queue is bound).

Plain functions on a psycopg2 connection, so `simasn relay status|retry` and the services'
health RPC share them."""

from __future__ import annotations

from typing import Any

from psycopg2 import sql

#: the leader lock's key for relay NAME of log SCHEMA is hashtext('simasn.relay.SCHEMA.NAME')
#: as a bigint; pg_locks shows a bigint key split into classid (high half) and objid (low half)
_LEADER = """
SELECT a.pid, a.application_name, host(a.client_addr), a.backend_start
  FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
 WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND l.classid::bigint = ((hashtext(%(key)s)::bigint >> 32) & 4294967295)
   AND l.objid::bigint = (hashtext(%(key)s)::bigint & 4294967295)
"""


def leader_lock_key(schema: str, relay: str = "relay") -> str:
    return f"simasn.relay.{schema}.{relay}"


def leader(conn, schema: str, relay: str = "relay") -> dict | None:
    """The database session holding the leader lock of `relay` on `schema`'s log, or None."""
    with conn.cursor() as cur:
        cur.execute(_LEADER, {"key": leader_lock_key(schema, relay)})
        row = cur.fetchone()
    if row is None:
        return None
    pid, application, address, since = row
    return {"pid": pid, "application_name": application, "client_addr": address,
            "since": since}


def relay_summary(conn, schema: str, relay: str = "relay") -> dict[str, Any]:
    """The cheap part of the status, for a health check: the log's head, the relay's position,
    the lag between them, how many events are held, and whether a relay leads."""
    q = sql.Identifier(schema)
    with conn.cursor() as cur:
        cur.execute(sql.SQL(
            "SELECT h.last_position, coalesce(c.position, 0), "
            "(SELECT count(*) FROM {}.relay_held WHERE released_at IS NULL) "
            "FROM {}.event_log_head h LEFT JOIN {}.relay_checkpoint c ON c.relay = %s "
            "WHERE h.id = 1").format(q, q, q), (relay,))
        head, position, held = cur.fetchone()
    return {"head": head, "position": position, "lag": head - position, "held": held,
            "leader": leader(conn, schema, relay) is not None}


def relay_status(conn, schema: str) -> dict[str, Any]:
    """Everything an operator needs about one log's relays: head, per relay name its position,
    lag, last checkpoint time, pending retry request and leader session; the held events with
    their errors; the returned (unrouted) events counted by type."""
    q = sql.Identifier(schema)
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT last_position FROM {}.event_log_head WHERE id = 1").format(q))
        (head,) = cur.fetchone()
        cur.execute(sql.SQL("SELECT relay, position, updated_at, retry_requested_at "
                            "FROM {}.relay_checkpoint ORDER BY relay").format(q))
        checkpoints = cur.fetchall()
        cur.execute(sql.SQL("SELECT relay, position, event_type, error_type, error, attempts, "
                            "held_at, last_tried_at FROM {}.relay_held "
                            "WHERE released_at IS NULL ORDER BY relay, position").format(q))
        names = [d[0] for d in cur.description]
        held = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
        cur.execute(sql.SQL("SELECT event_type, count(*), min(position), max(last_tried_at) "
                            "FROM {}.relay_unrouted GROUP BY event_type "
                            "ORDER BY event_type").format(q))
        unrouted = [{"event_type": t, "count": n, "oldest_position": p, "last_tried_at": at}
                    for t, n, p, at in cur.fetchall()]
    if not any(name == "relay" for name, *_ in checkpoints):
        checkpoints.insert(0, ("relay", 0, None, None))  # never ran: everything is lag
    relays = [{"relay": name, "position": position, "lag": head - position,
               "checkpointed_at": at, "retry_requested_at": requested,
               "leader": leader(conn, schema, name)}
              for name, position, at, requested in checkpoints]
    conn.rollback()
    return {"service": schema, "head": head, "relays": relays, "held": len(held),
            "held_events": held, "unrouted": sum(u["count"] for u in unrouted),
            "unrouted_by_type": unrouted}


def request_retry(conn, schema: str) -> int:
    """Ask every relay of `schema`'s log to offer its held and returned events again at its
    next poll; returns how many relays were asked (0: none has run on this log yet, and a
    relay offers them anyway when it starts)."""
    with conn, conn.cursor() as cur:
        cur.execute(sql.SQL("UPDATE {}.relay_checkpoint SET retry_requested_at = now()")
                    .format(sql.Identifier(schema)))
        return cur.rowcount


def retry_pending(conn, schema: str) -> bool:
    """True while a requested retry has not yet been taken up by a leader."""
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT count(*) FROM {}.relay_checkpoint "
                            "WHERE retry_requested_at IS NOT NULL")
                    .format(sql.Identifier(schema)))
        (pending,) = cur.fetchone()
    conn.rollback()
    return pending > 0


def format_status(status: dict) -> list[str]:
    """`simasn relay status` for a person: one block per service log."""
    lines = [f"{status['service']}: head {status['head']}, held {status['held']}, "
             f"unrouted {status['unrouted']}"]
    for relay in status["relays"]:
        who = relay["leader"]
        leading = (f"leader pid {who['pid']} {who['application_name'] or ''} "
                   f"{who['client_addr'] or 'local'}".rstrip() if who else "NO LEADER")
        retry = "  retry requested" if relay["retry_requested_at"] else ""
        lines.append(f"  relay {relay['relay']}: position {relay['position']}, "
                     f"lag {relay['lag']}, {leading}{retry}")
    for event in status["held_events"]:
        lines.append(f"  HELD #{event['position']} {event['event_type']} "
                     f"(relay {event['relay']}, {event['attempts']} attempt(s)): "
                     f"{event['error_type']}: {event['error'][:160]}")
    for group in status["unrouted_by_type"]:
        lines.append(f"  unrouted {group['event_type']}: {group['count']} "
                     f"(oldest #{group['oldest_position']})")
    return lines
