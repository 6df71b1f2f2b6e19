"""The applier: what regions sent, applied to records in sequence order per region, through
records' own use case (`records.apply_region_change`), so every rule and every record event is
the same as for a person's change.

- Only sequences of the contiguous prefix received (1..received_through) are applied: an event
  after a gap waits until the gap fills.
- One applier per region at a time: a lease on the region's row (replicas, overlapping ticks);
  a replica that dies loses it after SYNC_APPLY_LEASE_SECONDS (settings.lease_seconds).
- Each event: the RPC, then one transaction marking it applied (or quarantined) with its event
  in the log and the region's applied_through advanced. A crash between the RPC and that
  transaction leaves it waiting; applied again, records answers "duplicate" for the event id it
  already applied, and it is marked then: exactly once in effect.
- A refusal no retry can fix (422, 403, 404, 409) quarantines the event with records' reasons;
  later events of the same NIP wait behind it (their order matters), other NIPs go on.
- Anything else (records down, a timeout) stops the region's feed where it is and tries again
  after a doubling delay: never quarantined."""

from __future__ import annotations

import orjson

from services.sync import domain
from services.sync.usecases import STREAM_TYPE, stream
from shared.canonical import find_non_json_native
from shared.errors import SimasnError
from shared.eventstore import ANY_VERSION, NewEvent
from shared.logging import get_logger

log = get_logger(__name__)


def due_regions(db) -> list[str]:
    """Regions with an event ready to apply and no retry delay running."""
    with db.transaction() as uow:
        return [row[0] for row in uow.execute(
            "SELECT code FROM regions r WHERE (retry_after IS NULL OR retry_after <= now()) "
            "AND EXISTS (SELECT 1 FROM inbound i WHERE i.region = r.code AND "
            "i.status = 'waiting' AND i.sequence <= r.received_through) ORDER BY code")]


def tick(db, records, settings) -> int:
    """Apply what is due in every region; returns how many events were decided."""
    return sum(run_region(db, records, settings, region) for region in due_regions(db))


def _take_lease(db, settings, region: str) -> bool:
    with db.transaction() as uow:
        return uow.execute(
            "UPDATE regions SET applier = :me, lease_until = now() + make_interval(secs => :l) "
            "WHERE code = :c AND (lease_until IS NULL OR lease_until < now() OR applier = :me) "
            "AND (retry_after IS NULL OR retry_after <= now()) RETURNING code",
            {"me": settings.runner, "c": region, "l": settings.lease_seconds}).first() is not None


def _release_lease(db, settings, region: str) -> None:
    with db.transaction() as uow:
        uow.execute("UPDATE regions SET applier = NULL, lease_until = NULL WHERE code = :c AND "
                    "applier = :me", {"c": region, "me": settings.runner})


def run_region(db, records, settings, region: str) -> int:
    """Up to SYNC_APPLY_BATCH events of one region, in sequence order."""
    if not _take_lease(db, settings, region):
        return 0
    decided = 0
    try:
        with db.transaction() as uow:
            through = uow.execute("SELECT received_through FROM regions WHERE code = :c",
                                  {"c": region}).scalar_one()
            candidates = [dict(row) for row in uow.execute(
                "SELECT sequence, event_id::text AS event_id, kind, nip, data::text AS data, "
                "attempts FROM inbound WHERE region = :r AND status = 'waiting' AND "
                "sequence <= :t ORDER BY sequence LIMIT :n",
                {"r": region, "t": through, "n": settings.apply_batch}).mappings()]
            blocked = {row[0]: row[1] for row in uow.execute(
                "SELECT nip, min(sequence) FROM inbound WHERE region = :r AND "
                "status = 'quarantined' GROUP BY nip", {"r": region})}
        for event in candidates:
            first_refused = blocked.get(event["nip"])
            if first_refused is not None and first_refused < event["sequence"]:
                continue  # waits behind a quarantined event of the same employee
            outcome = _apply_one(db, records, settings, region, event)
            if outcome == "stop":
                break
            decided += 1
            if outcome == domain.QUARANTINED:
                blocked.setdefault(event["nip"], event["sequence"])
    finally:
        _release_lease(db, settings, region)
    return decided


def _apply_one(db, records, settings, region: str, event: dict) -> str:
    change = {"event_id": event["event_id"], "sequence": event["sequence"],
              "kind": event["kind"], "nip": event["nip"], "data": orjson.loads(event["data"])}
    try:
        answer = records.apply_region_change(region, change)
    except SimasnError as exc:
        if domain.quarantines(exc.http_status, exc.transient):
            _quarantine(db, settings, region, event, exc)
            return domain.QUARANTINED
        _defer(db, settings, region, event, exc.code)
        return "stop"
    except Exception as exc:  # noqa: BLE001 - records not running, a broken reply: try again later
        _defer(db, settings, region, event, type(exc).__name__)
        return "stop"
    _mark_applied(db, settings, region, event, answer or {})
    return domain.APPLIED


def _decide(uow, settings, region: str, event: dict, status: str, refusal: dict | None) -> bool:
    """Mark the event decided if it is still the one waiting for its sequence and this runner
    still holds the region; advance applied_through. False: someone else decided it."""
    changed = uow.execute(
        "UPDATE inbound SET status = :st, refusal = CAST(:rf AS jsonb), decided_at = now(), "
        "attempts = attempts + 1 WHERE region = :r AND sequence = :s AND event_id = "
        "CAST(:e AS uuid) AND status = 'waiting' RETURNING sequence",
        {"st": status, "rf": orjson.dumps(refusal).decode() if refusal else None,
         "r": region, "s": event["sequence"], "e": event["event_id"]}).first()
    if changed is None:
        return False
    advance_applied(uow, region)
    uow.execute("UPDATE regions SET retry_attempts = 0, retry_after = NULL, lease_until = now() + "
                "make_interval(secs => :l) WHERE code = :c AND applier = :me",
                {"c": region, "me": settings.runner, "l": settings.lease_seconds})
    return True


def advance_applied(uow, region: str) -> int:
    """applied_through moved over every applied or skipped sequence that follows it."""
    current = uow.execute("SELECT applied_through FROM regions WHERE code = :c FOR UPDATE",
                          {"c": region}).scalar_one()
    final = [row[0] for row in uow.execute(
        "SELECT sequence FROM inbound WHERE region = :r AND sequence > :a AND "
        "status IN ('applied', 'skipped') ORDER BY sequence LIMIT 100000",
        {"r": region, "a": current})]
    through = domain.advance(current, final)
    if through != current:
        uow.execute("UPDATE regions SET applied_through = :t WHERE code = :c",
                    {"t": through, "c": region})
    return through


def _mark_applied(db, settings, region, event, answer: dict) -> None:
    with db.transaction() as uow:
        if not _decide(uow, settings, region, event, domain.APPLIED, None):
            return
        uow.append(stream(region), STREAM_TYPE, ANY_VERSION, [NewEvent("SyncEventApplied", {
            "region": region, "sequence": event["sequence"], "event_id": event["event_id"],
            "nip": event["nip"], "outcome": str(answer.get("status") or "applied"),
            "employee_version": answer.get("version")})])


def _quarantine(db, settings, region, event, exc: SimasnError) -> None:
    refusal = {"code": exc.code, "status": exc.http_status, "message": exc.message,
               "field": exc.field, "details": exc.details}
    with db.transaction() as uow:
        if not _decide(uow, settings, region, event, domain.QUARANTINED, refusal):
            return
        uow.append(stream(region), STREAM_TYPE, ANY_VERSION, [NewEvent(
            "SyncEventQuarantined", {"region": region, "sequence": event["sequence"],
                                     "event_id": event["event_id"], "nip": event["nip"],
                                     **_json_safe(refusal)})])
    log.warning("sync_event_quarantined", region=region, sequence=event["sequence"],
                code=exc.code)


def _json_safe(refusal: dict) -> dict:
    """The refusal as the log may hold it: details with a float (which the audit log refuses,
    shared/canonical.py) are kept as their JSON text."""
    details = refusal["details"]
    if details is not None:
        details = orjson.loads(orjson.dumps(details, default=str))
        if find_non_json_native(details):
            details = orjson.dumps(details).decode()
    return {**refusal, "details": details}


def _defer(db, settings, region, event, code: str) -> None:
    with db.transaction() as uow:
        attempts = uow.execute(
            "UPDATE regions SET retry_attempts = retry_attempts + 1 WHERE code = :c "
            "RETURNING retry_attempts", {"c": region}).scalar_one()
        delay = domain.retry_delay(attempts, settings.retry_seconds, settings.retry_max_seconds)
        uow.execute("UPDATE regions SET retry_after = now() + make_interval(secs => :d) "
                    "WHERE code = :c", {"d": delay, "c": region})
        uow.execute("UPDATE inbound SET attempts = attempts + 1 WHERE region = :r AND "
                    "sequence = :s", {"r": region, "s": event["sequence"]})
        uow.append(stream(region), STREAM_TYPE, ANY_VERSION, [NewEvent("SyncApplyDeferred", {
            "region": region, "sequence": event["sequence"], "event_id": event["event_id"],
            "code": str(code)[:80], "attempts": attempts, "retry_seconds": max(1, round(delay))})])
    log.warning("sync_apply_deferred", region=region, sequence=event["sequence"], code=code,
                attempts=attempts)
