"""The applier: what regions sent, applied to records in sequence order per region, through
records' own use case (`records.apply_region_changes`: each change as `apply_region_change`
applies it), so every rule and every record event is the same as for a person's change.

- Only sequences of the contiguous prefix received (1..received_through) are applied: an event
  after a gap waits until the gap fills.
- One applier per region at a time: a lease on the region's row (replicas, overlapping ticks);
  a replica that dies loses it after SYNC_APPLY_LEASE_SECONDS (settings.lease_seconds).
- A chunk of up to SYNC_APPLY_BATCH waiting events: one records call (records applies them in
  one transaction and answers each), then one transaction marking every answer (applied or
  quarantined) with their events in the log and the region's applied_through advanced once.
  A crash between the call and that transaction leaves them waiting; applied again, records
  answers "duplicate" for the event ids it already applied, and they are marked then: exactly
  once in effect.
- A refusal no retry can fix (422, 403, 404, 409) quarantines the event with records' reasons;
  later events of the same NIP wait behind it (records answers them "blocked" in the same call,
  later chunks do not send them), other NIPs go on.
- Anything else (records down, a timeout, the call refused as a whole) stops the region's feed
  where it is and tries again after a doubling delay: never quarantined; records applied
  nothing of that call."""

from __future__ import annotations

import time

import orjson

from services.sync import domain
from services.sync.usecases import STREAM_TYPE, stream
from shared.canonical import find_non_json_native
from shared.contracts.records import MAX_REGION_CHANGES
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


def tick(db, records, settings, each=map) -> int:
    """Apply what is due in every region; returns how many events were decided. `each` maps
    the regions' runs: the service passes a green pool's so that regions are applied side by
    side (each under its own lease), one region's records call overlapping another's
    marking."""
    return sum(each(lambda region: run_region(db, records, settings, region), due_regions(db)))


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


#: one applier run keeps a region at most this long (chunk after chunk) before the next region
RUN_SECONDS = 5.0


def run_region(db, records, settings, region: str) -> int:
    """The region's ready events, chunk after chunk of SYNC_APPLY_BATCH, in sequence order,
    while there are some (at most RUN_SECONDS, then the next tick goes on)."""
    if not _take_lease(db, settings, region):
        return 0
    decided = 0
    started = time.monotonic()
    try:
        while time.monotonic() - started < RUN_SECONDS:
            done = _apply_chunk(db, records, settings, region)
            if not done:
                break
            decided += done
    finally:
        _release_lease(db, settings, region)
    return decided


def _apply_chunk(db, records, settings, region: str) -> int:
    """One chunk: read the waiting events that are not held behind a quarantined event of
    their NIP, apply them in one records call (per MAX_REGION_CHANGES), mark every answer in
    one transaction. Returns how many were decided (0: nothing to do, or deferred)."""
    with db.transaction() as uow:
        through = uow.execute("SELECT received_through FROM regions WHERE code = :c",
                              {"c": region}).scalar_one()
        events = [dict(row) for row in uow.execute(
            "SELECT sequence, event_id::text AS event_id, kind, nip, data::text AS data, "
            "attempts FROM inbound i WHERE region = :r AND status = 'waiting' AND "
            "sequence <= :t AND NOT EXISTS (SELECT 1 FROM inbound q WHERE q.region = :r AND "
            "q.nip = i.nip AND q.status = 'quarantined' AND q.sequence < i.sequence) "
            "ORDER BY sequence LIMIT :n",
            {"r": region, "t": through, "n": settings.apply_batch}).mappings()]
    if not events:
        return 0
    answers = []
    asked = time.monotonic()
    try:
        for start in range(0, len(events), MAX_REGION_CHANGES):
            part = events[start:start + MAX_REGION_CHANGES]
            answers += records.apply_region_changes(region, [
                {"event_id": e["event_id"], "sequence": e["sequence"], "kind": e["kind"],
                 "nip": e["nip"], "data": orjson.loads(e["data"])} for e in part])
    except SimasnError as exc:  # the call refused as a whole: nothing a quarantine could fix
        _defer(db, settings, region, events[len(answers)], exc.code)
        return 0
    except Exception as exc:  # noqa: BLE001 - records not running, a broken reply: try again later
        _defer(db, settings, region, events[len(answers)], type(exc).__name__)
        return 0
    answered = time.monotonic()
    decided = _mark(db, settings, region, events, answers)
    log.info("sync_chunk_applied", region=region, events=len(events), decided=decided,
             records_ms=round(1000 * (answered - asked)),
             marking_ms=round(1000 * (time.monotonic() - answered)))
    return decided


def _mark(db, settings, region: str, events: list[dict], answers: list[dict]) -> int:
    """Every answer marked in one transaction: applied / duplicate -> applied, refused ->
    quarantined with records' reasons, blocked -> left waiting (behind its quarantined NIP);
    their events appended together, applied_through advanced once. An event someone else
    decided meanwhile (its row no longer waiting) is left as they decided it."""
    decisions = {}
    for event, answer in zip(events, answers, strict=True):
        if str(answer.get("event_id")) != event["event_id"]:
            raise ValueError(f"records answered {answer.get('event_id')} for "
                             f"{event['event_id']}")
        if answer["status"] in ("applied", "duplicate"):
            decisions[event["sequence"]] = (event, domain.APPLIED, answer, None)
        elif answer["status"] == "refused":
            error = answer.get("error") or {}
            refusal = {k: error.get(k) for k in ("code", "status", "message", "field",
                                                 "details")}
            decisions[event["sequence"]] = (event, domain.QUARANTINED, answer, refusal)
    if not decisions:
        return 0
    with db.transaction() as uow:
        rows = list(decisions.values())
        changed = {row[0] for row in uow.execute(
            "UPDATE inbound i SET status = v.status, refusal = CAST(v.refusal AS jsonb), "
            "decided_at = now(), attempts = i.attempts + 1 FROM unnest(CAST(:s AS bigint[]), "
            "CAST(:e AS uuid[]), CAST(:st AS text[]), CAST(:rf AS text[])) AS "
            "v(sequence, event_id, status, refusal) WHERE i.region = :r AND "
            "i.sequence = v.sequence AND i.event_id = v.event_id AND i.status = 'waiting' "
            "RETURNING i.sequence",
            {"r": region, "s": [e["sequence"] for e, *_ in rows],
             "e": [e["event_id"] for e, *_ in rows], "st": [st for _, st, _, _ in rows],
             "rf": [orjson.dumps(rf).decode() if rf else None for *_, rf in rows]})}
        if not changed:
            return 0
        advance_applied(uow, region)
        uow.execute("UPDATE regions SET retry_attempts = 0, retry_after = NULL, lease_until = "
                    "now() + make_interval(secs => :l) WHERE code = :c AND applier = :me",
                    {"c": region, "me": settings.runner, "l": settings.lease_seconds})
        uow.append(stream(region), STREAM_TYPE, ANY_VERSION, [
            _decided_event(region, event, status, answer, refusal)
            for sequence, (event, status, answer, refusal) in sorted(decisions.items())
            if sequence in changed])
    for sequence in sorted(changed):
        event, status, _, refusal = decisions[sequence]
        if status == domain.QUARANTINED:
            log.warning("sync_event_quarantined", region=region, sequence=sequence,
                        code=refusal["code"])
    return len(changed)


def _decided_event(region: str, event: dict, status: str, answer: dict,
                   refusal: dict | None) -> NewEvent:
    if status == domain.APPLIED:
        return NewEvent("SyncEventApplied", {
            "region": region, "sequence": event["sequence"], "event_id": event["event_id"],
            "nip": event["nip"], "outcome": str(answer.get("status") or "applied"),
            "employee_version": answer.get("version")})
    return NewEvent("SyncEventQuarantined", {
        "region": region, "sequence": event["sequence"], "event_id": event["event_id"],
        "nip": event["nip"], **_json_safe(refusal)})


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
