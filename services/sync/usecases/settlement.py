"""Applying a reconciliation's take_region decisions to the records: an administrator starts it
(`start`: status applying, 202), a timer runs it (`tick`), resumable after any crash.

- One runner per reconciliation: a lease on its row (reconciliations.runner / lease_until), as
  the region applier's; a replica that dies loses it after SYNC_APPLY_LEASE_SECONDS.
- The work list is the take_region decisions with no outcome yet (applied_at IS NULL), in
  difference id order, in chunks (CHUNK, at most SYNC_APPLY_BATCH) for up to RUN_SECONDS a run.
- Each change goes through records' own use case (`_through_records`, the one place that calls
  records) with an event id derived from the reconciliation and the difference (uuid5): a crash
  between the call and the transaction that records the outcome leaves the decision to be
  applied again, and records answers `duplicate` for an id it already applied — once in effect.
- Each chunk's outcomes are written in one transaction with one ReconciliationDecisionsApplied
  event: applied (records' answer), or refused with records' code, status, field and reasons
  (never dropped). Records unreachable or failing transiently: nothing recorded, the runner lets
  go and the reconciliation is tried again after SYNC_RETRY_SECONDS.
- Nothing left: status applied, ReconciliationApplied with the figures."""

from __future__ import annotations

import time
import uuid

import orjson

from services.sync import domain
from services.sync.usecases import STREAM_TYPE, decisions, stream
from services.sync.usecases.applying import RUN_SECONDS
from shared.canonical import find_non_json_native
from shared.errors import SimasnError
from shared.eventstore import ANY_VERSION, NewEvent
from shared.logging import get_logger

log = get_logger(__name__)

#: take_region decisions sent to records, and recorded, at a time
CHUNK = 500
#: the namespace of the event ids of reconciliation changes at records (uuid5)
CHANGE_NAMESPACE = uuid.UUID("5f0c7a52-34c1-4d1e-9a57-1b0d1d3b7e14")


def change_event_id(reconciliation_id: str, difference_id: int) -> str:
    """The same on every run: records applies each difference once."""
    return str(uuid.uuid5(CHANGE_NAMESPACE, f"{reconciliation_id}:{difference_id}"))


def start(uow, actor, region: str, reconciliation_id) -> dict:
    """Status applying, the take_region decisions queued for the timer; asked again while it
    runs: the same answer."""
    actor.require("administrator")
    rec = decisions.reconciliation(uow, region, reconciliation_id, lock=True)
    if rec["status"] == domain.APPLYING:
        return decisions.state(uow, rec["reconciliation_id"])
    if rec["status"] not in domain.DECIDABLE:
        raise decisions.not_in(rec["status"], "penerapan")
    to_apply = uow.execute("SELECT count(*) FROM differences WHERE reconciliation_id = "
                           "CAST(:r AS uuid) AND decision = 'take_region' AND applied_at IS NULL",
                           {"r": rec["reconciliation_id"]}).scalar_one()
    uow.execute("UPDATE reconciliations SET status = 'applying', runner = NULL, lease_until = "
                "NULL WHERE reconciliation_id = CAST(:r AS uuid)", {"r": rec["reconciliation_id"]})
    uow.append(stream(region), STREAM_TYPE, ANY_VERSION, [NewEvent("ReconciliationApplyStarted", {
        "region": region, "reconciliation_id": rec["reconciliation_id"], "to_apply": to_apply})],
        reason="terapkan keputusan rekonsiliasi")
    return decisions.state(uow, rec["reconciliation_id"])


def due(db) -> list[tuple[str, str]]:
    with db.transaction() as uow:
        return [(str(r[0]), r[1]) for r in uow.execute(
            "SELECT reconciliation_id, region FROM reconciliations WHERE status = 'applying' AND "
            "(lease_until IS NULL OR lease_until < now()) ORDER BY started_at")]


def tick(db, records, settings) -> int:
    """Run every reconciliation being applied; returns how many decisions got an outcome."""
    return sum(run(db, records, settings, rid, region) for rid, region in due(db))


def _take_lease(db, settings, reconciliation_id: str) -> bool:
    with db.transaction() as uow:
        return uow.execute(
            "UPDATE reconciliations SET runner = :me, lease_until = now() + make_interval(secs "
            "=> :l) WHERE reconciliation_id = CAST(:r AS uuid) AND status = 'applying' AND "
            "(lease_until IS NULL OR lease_until < now() OR runner = :me) RETURNING 1",
            {"me": settings.runner, "r": reconciliation_id, "l": settings.lease_seconds}
        ).first() is not None


def _let_go(db, settings, reconciliation_id: str, wait_seconds: float = 0) -> None:
    with db.transaction() as uow:
        uow.execute("UPDATE reconciliations SET runner = NULL, lease_until = CASE WHEN :w > 0 "
                    "THEN now() + make_interval(secs => :w) END WHERE reconciliation_id = "
                    "CAST(:r AS uuid) AND runner = :me",
                    {"w": wait_seconds, "r": reconciliation_id, "me": settings.runner})


def run(db, records, settings, reconciliation_id: str, region: str) -> int:
    """Chunks of one reconciliation's decisions (SYNC_APPLY_BATCH at most each) while there
    are some, for at most RUN_SECONDS (the feeds' applier's budget; the next tick goes on);
    finishes it when none is left."""
    if not _take_lease(db, settings, reconciliation_id):
        return 0
    done, wait = 0, 0.0
    started = time.monotonic()
    try:
        while time.monotonic() - started < RUN_SECONDS:
            read_at = time.monotonic()
            chunk = _next_chunk(db, reconciliation_id, min(CHUNK, settings.apply_batch))
            if not chunk:
                _finish(db, settings, reconciliation_id, region)
                break
            asked = time.monotonic()
            outcomes, stopped = _through_records(records, region, reconciliation_id, chunk)
            answered = time.monotonic()
            done += _record(db, settings, reconciliation_id, region, outcomes)
            log.info("reconciliation_chunk_applied", region=region,
                     reconciliation_id=reconciliation_id, decisions=len(chunk),
                     outcomes=len(outcomes), reading_ms=round(1000 * (asked - read_at)),
                     records_ms=round(1000 * (answered - asked)),
                     recording_ms=round(1000 * (time.monotonic() - answered)))
            if stopped:
                log.warning("reconciliation_apply_deferred", region=region,
                            reconciliation_id=reconciliation_id, code=stopped)
                wait = settings.retry_seconds
                break
    finally:
        _let_go(db, settings, reconciliation_id, wait)
    return done


def _next_chunk(db, reconciliation_id: str, limit: int) -> list[dict]:
    with db.transaction() as uow:
        return [dict(row) for row in uow.execute(
            "SELECT d.difference_id, d.kind, d.nip, d.field, d.region_value::text AS "
            "region_value, s.data::text AS snapshot_row FROM differences d JOIN "
            "reconciliations r ON r.reconciliation_id = d.reconciliation_id LEFT JOIN "
            "snapshot_rows s ON s.snapshot_id = r.snapshot_id AND s.line = d.line WHERE "
            "d.reconciliation_id = CAST(:r AS uuid) AND d.decision = 'take_region' AND "
            "d.applied_at IS NULL ORDER BY d.difference_id LIMIT :n",
            {"r": reconciliation_id, "n": limit}).mappings()]


def _change(reconciliation_id: str, row: dict) -> dict:
    kind, data = domain.region_change(
        row["kind"], row["field"],
        orjson.loads(row["region_value"]) if row["region_value"] is not None else None,
        orjson.loads(row["snapshot_row"]) if row["snapshot_row"] is not None else None,
        row["nip"])
    return {"event_id": change_event_id(reconciliation_id, row["difference_id"]), "kind": kind,
            "nip": row["nip"], "data": data,
            "origin": {"reconciliation_id": reconciliation_id,
                       "difference_id": row["difference_id"]}}


def _through_records(records, region: str, reconciliation_id: str,
                     chunk: list[dict]) -> tuple[list[dict], str | None]:
    """The chunk's changes through records in one `records.apply_region_changes` call (the one
    place that calls records): each one's outcome, and the code that stopped the chunk when
    records could not answer (nothing of it is recorded; it is sent again). A change `blocked`
    behind a refused change of the same NIP gets no outcome here: it is sent again in the next
    chunk, alone of its NIP's refused one."""
    changes = [_change(reconciliation_id, row) for row in chunk]
    try:
        answers = records.apply_region_changes(region, changes) or []
    except SimasnError as exc:
        return [], exc.code
    except Exception as exc:  # noqa: BLE001 - records not running, a broken reply: later
        return [], type(exc).__name__
    by_event = {str(answer.get("event_id")): answer for answer in answers}
    outcomes = []
    for row, change in zip(chunk, changes, strict=True):
        base = {"difference_id": row["difference_id"], "event_id": change["event_id"]}
        answer = by_event.get(change["event_id"])
        if answer is None or answer["status"] == "blocked":
            continue
        if answer["status"] == "refused":
            error = answer["error"]
            if not domain.quarantines(error["status"], False):
                return outcomes, error["code"]
            outcomes.append({**base, "status": "refused", "code": error["code"],
                             "http_status": error["status"], "message": error["message"],
                             "field": error["field"], "details": _json_safe(error["details"])})
            continue
        outcomes.append({**base, "status": "applied", "records": str(answer["status"]),
                         "employee_version": answer.get("version")})
    return outcomes, None


def _json_safe(details):
    """Records' details as the log may hold them: with a float (which the audit log refuses,
    shared/canonical.py) they are kept as their JSON text."""
    if details is None:
        return None
    details = orjson.loads(orjson.dumps(details, default=str))
    return orjson.dumps(details).decode() if find_non_json_native(details) else details


def _record(db, settings, reconciliation_id: str, region: str, outcomes: list[dict]) -> int:
    """The chunk's outcomes and their event, if this runner still holds the reconciliation."""
    if not outcomes:
        return 0
    with db.transaction() as uow:
        held = uow.execute("SELECT 1 FROM reconciliations WHERE reconciliation_id = "
                           "CAST(:r AS uuid) AND runner = :me AND status = 'applying' FOR UPDATE",
                           {"r": reconciliation_id, "me": settings.runner}).first()
        if held is None:
            return 0
        written = [row[0] for row in uow.execute(
            "UPDATE differences d SET applied_at = now(), applied_outcome = v.outcome FROM "
            "unnest(CAST(:ids AS integer[]), CAST(:os AS jsonb[])) AS v(id, outcome) WHERE "
            "d.reconciliation_id = CAST(:r AS uuid) AND d.difference_id = v.id AND "
            "d.decision = 'take_region' AND d.applied_at IS NULL RETURNING d.difference_id",
            {"ids": [o["difference_id"] for o in outcomes],
             "os": [orjson.dumps(o).decode() for o in outcomes], "r": reconciliation_id})]
        kept = [o for o in outcomes if o["difference_id"] in set(written)]
        if kept:
            uow.append(stream(region), STREAM_TYPE, ANY_VERSION, [NewEvent(
                "ReconciliationDecisionsApplied", {"region": region,
                                                   "reconciliation_id": reconciliation_id,
                                                   "outcomes": kept})])
        uow.execute("UPDATE reconciliations SET lease_until = now() + make_interval(secs => :l) "
                    "WHERE reconciliation_id = CAST(:r AS uuid)",
                    {"l": settings.lease_seconds, "r": reconciliation_id})
    return len(kept)


def _finish(db, settings, reconciliation_id: str, region: str) -> None:
    with db.transaction() as uow:
        changed = uow.execute(
            "UPDATE reconciliations SET status = 'applied', applied_at = now() WHERE "
            "reconciliation_id = CAST(:r AS uuid) AND status = 'applying' AND runner = :me "
            "RETURNING 1", {"r": reconciliation_id, "me": settings.runner}).first()
        if changed is None:
            return
        figures = decisions.figures(uow, reconciliation_id)
        uow.append(stream(region), STREAM_TYPE, ANY_VERSION, [NewEvent("ReconciliationApplied", {
            "region": region, "reconciliation_id": reconciliation_id,
            "applied": sum(f["applied"] for f in figures.values()),
            "refused": sum(f["refused"] for f in figures.values()), "figures": figures})])
