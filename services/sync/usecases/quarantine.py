"""Quarantined events: what records refused, with its field-level reasons, for the region (a
signed read) and for administrators. Fixed in one of two ways (docs/design/sync.md):

- the region sends a corrected event for the same sequence with a new event id: it takes the
  quarantined one's place and is applied (usecases/receiving.py);
- an administrator decides: `retry` (apply it again as it is, e.g. once the data it depended on
  was corrected) or `skip` (never apply it; the region's feed moves past it)."""

from __future__ import annotations

from services.sync import domain
from services.sync.exceptions import NotQuarantined
from services.sync.usecases import STREAM_TYPE, iso, regions, stream
from services.sync.usecases.applying import advance_applied
from shared.errors import NotFound
from shared.eventstore import ANY_VERSION, NewEvent


def listing(uow, region: str, limit: int) -> list[dict]:
    """The region's quarantined events, oldest sequence first."""
    rows = uow.execute(
        "SELECT sequence, event_id::text AS event_id, kind, nip, batch_id, received_at, "
        "refusal FROM inbound WHERE region = :r AND status = 'quarantined' ORDER BY sequence "
        "LIMIT :n", {"r": region, "n": limit}).mappings().all()
    return [{**dict(row), "received_at": iso(row["received_at"])} for row in rows]


def for_administrator(uow, actor, region: str, limit: int) -> list[dict]:
    actor.require("administrator", "auditor")
    regions.keys(uow, actor, region)  # RegionUnknown when it is not onboarded
    return listing(uow, region, limit)


def _quarantined(uow, region: str, sequence: int) -> dict:
    row = uow.execute("SELECT sequence, event_id::text AS event_id, status FROM inbound WHERE "
                      "region = :r AND sequence = :s FOR UPDATE",
                      {"r": region, "s": sequence}).mappings().first()
    if row is None:
        raise NotFound("urutan ini tidak ada pada daerah ini", field="sequence")
    if row["status"] != domain.QUARANTINED:
        raise NotQuarantined(f"urutan {sequence} berstatus {row['status']}", field="sequence")
    return dict(row)


def skip(uow, actor, region: str, sequence: int, reason: str) -> dict:
    """An administrator's decision: this event is never applied."""
    actor.require("administrator")
    regions.lock(uow, region)
    row = _quarantined(uow, region, sequence)
    uow.execute("UPDATE inbound SET status = 'skipped', decided_at = now() WHERE region = :r "
                "AND sequence = :s", {"r": region, "s": sequence})
    advance_applied(uow, region)
    uow.append(stream(region), STREAM_TYPE, ANY_VERSION, [NewEvent("SyncQuarantineSkipped", {
        "region": region, "sequence": sequence, "event_id": row["event_id"], "reason": reason})],
        reason=reason)
    return {"region": region, "sequence": sequence, "event_id": row["event_id"],
            "status": domain.SKIPPED}


def retry(uow, actor, region: str, sequence: int, reason: str) -> dict:
    """An administrator's decision: apply this event again as it is."""
    actor.require("administrator")
    regions.lock(uow, region)
    row = _quarantined(uow, region, sequence)
    uow.execute("UPDATE inbound SET status = 'waiting', decided_at = NULL WHERE region = :r "
                "AND sequence = :s", {"r": region, "s": sequence})
    uow.append(stream(region), STREAM_TYPE, ANY_VERSION, [NewEvent("SyncQuarantineRetried", {
        "region": region, "sequence": sequence, "event_id": row["event_id"], "reason": reason})],
        reason=reason)
    return {"region": region, "sequence": sequence, "event_id": row["event_id"],
            "status": domain.WAITING}
