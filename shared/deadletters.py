"""Operations on parked events: list them, send one back to its consumer, or discard it."""

from __future__ import annotations

from kombu import Connection, Exchange, Producer

from shared.errors import NotFound, ValidationFailed

_COLUMNS = ("id, consumer, queue, source, position, event_type, error_type, error, attempts, "
            "status, first_failed_at, last_failed_at, resolved_by, resolution_note")


def list_dead_letters(conn, schema: str, status: str | None = "parked") -> list[dict]:
    sql = f"SELECT {_COLUMNS} FROM {schema}.dead_letters"  # noqa: S608 - identifiers from code only; every value is a bound parameter
    params: tuple = ()
    if status:
        sql += " WHERE status = %s"
        params = (status,)
    with conn.cursor() as cur:
        cur.execute(sql + " ORDER BY id", params)
        names = [d[0] for d in cur.description]
        return [{"service": schema, **dict(zip(names, row, strict=True))}
                for row in cur.fetchall()]


def _fetch(cur, schema: str, letter_id: int):
    cur.execute(
        f"SELECT queue, envelope, status FROM {schema}.dead_letters WHERE id = %s FOR UPDATE",  # noqa: S608 - identifiers from code only; every value is a bound parameter
        (letter_id,),
    )
    row = cur.fetchone()
    if row is None:
        raise NotFound(f"no dead letter {schema}:{letter_id}", field="id")
    if row[2] != "parked":
        raise ValidationFailed(f"dead letter {schema}:{letter_id} is {row[2]}, not parked",
                               field="id")
    return row


def retry_dead_letter(conn, schema: str, letter_id: int, amqp_uri: str, actor: str) -> str:
    """Publish the parked event straight to its consumer's queue (only that consumer sees it);
    the consumer's idempotency record makes a second success impossible."""
    with conn, conn.cursor() as cur:
        queue, envelope, _ = _fetch(cur, schema, letter_id)
        returned = []
        with Connection(amqp_uri, transport_options={"confirm_publish": True}) as amqp:
            producer = Producer(amqp.channel(), exchange=Exchange(""),
                                on_return=lambda exc, *a: returned.append(str(exc)))
            headers = {}
            correlation = (envelope.get("metadata") or {}).get("correlation_id")
            if correlation:
                headers["nameko.correlation_id"] = correlation
            producer.publish(envelope, routing_key=queue, mandatory=True, delivery_mode=2,
                             serializer="json", headers=headers, retry=False)
        if returned:
            raise NotFound(f"queue {queue} no longer exists: {returned[0]}", field="queue")
        cur.execute(
            f"UPDATE {schema}.dead_letters SET status = 'retried', resolved_at = now(), "  # noqa: S608 - identifiers from code only; every value is a bound parameter
            "resolved_by = %s, resolution_note = 'republished to ' || queue WHERE id = %s",
            (actor, letter_id),
        )
    return queue


def discard_dead_letter(conn, schema: str, letter_id: int, actor: str, reason: str) -> None:
    if not reason or not reason.strip():
        raise ValidationFailed("say why the event is discarded", field="reason")
    with conn, conn.cursor() as cur:
        _fetch(cur, schema, letter_id)
        cur.execute(
            f"UPDATE {schema}.dead_letters SET status = 'discarded', resolved_at = now(), "  # noqa: S608 - identifiers from code only; every value is a bound parameter
            "resolved_by = %s, resolution_note = %s WHERE id = %s",
            (actor, reason.strip(), letter_id),
        )
