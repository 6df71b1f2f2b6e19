"""What each region and BKD see of a feed, and the two alarms: a gap still open after
SYNC_GAP_REPORT_SECONDS is reported (SyncGapReported; every later batch answer and the status
list what is missing), and a region that sent nothing for SYNC_SILENCE_SECONDS is flagged
silent (RegionWentSilent, a warning in the log, `silent` in its status) until it sends again."""

from __future__ import annotations

from services.sync import domain
from services.sync.exceptions import RegionUnknown
from services.sync.usecases import STREAM_TYPE, iso, stream
from shared.eventstore import ANY_VERSION, NewEvent
from shared.logging import get_logger

log = get_logger(__name__)

_STATUS = (
    "SELECT r.*, "
    "(SELECT count(*) FROM region_keys k WHERE k.region = r.code AND k.status = 'active') "
    "AS active_keys, "
    "(SELECT count(*) FROM inbound i WHERE i.region = r.code AND i.status = 'waiting') "
    "AS waiting, "
    "(SELECT count(*) FROM inbound i WHERE i.region = r.code AND i.status = 'waiting' AND "
    "i.sequence > r.received_through) AS held_for_gap, "
    "(SELECT count(*) FROM inbound i WHERE i.region = r.code AND i.status = 'quarantined') "
    "AS quarantined FROM regions r")


def missing(uow, region: str, received_through: int) -> list[list[int]]:
    held = [row[0] for row in uow.execute(
        "SELECT sequence FROM inbound WHERE region = :r AND sequence > :t ORDER BY sequence",
        {"r": region, "t": received_through})]
    return domain.missing_ranges(received_through, held)


def _view(uow, row) -> dict:
    return {
        "region": row["code"], "name": row["name"], "onboarded_at": iso(row["onboarded_at"]),
        "active_keys": row["active_keys"], "last_received_at": iso(row["last_received_at"]),
        "last_sequence": row["last_sequence"], "received_through": row["received_through"],
        "applied_through": row["applied_through"],
        "lag": row["last_sequence"] - row["applied_through"],
        "missing": missing(uow, row["code"], row["received_through"]),
        "gap_open_since": iso(row["gap_open_since"]),
        "gap_reported": row["gap_reported_at"] is not None, "waiting": row["waiting"],
        "held_for_gap": row["held_for_gap"], "quarantined": row["quarantined"],
        "retry_after": iso(row["retry_after"]), "silent": row["silent_since"] is not None,
        "silent_since": iso(row["silent_since"]),
        "amqp_rejected": row["amqp_rejected"],
        "last_amqp_rejection": row["last_amqp_rejection"],
        **_last_snapshot_and_reconciliation(uow, row["code"])}


def _last_snapshot_and_reconciliation(uow, region: str) -> dict:
    snapshot = uow.execute(
        "SELECT snapshot_id::text AS snapshot_id, status, received_at, rows_total, "
        "rows_invalid FROM snapshots WHERE region = :r ORDER BY received_at DESC LIMIT 1",
        {"r": region}).mappings().first()
    reconciliation = uow.execute(
        "SELECT reconciliation_id::text AS reconciliation_id, snapshot_id::text AS snapshot_id, "
        "year, status, started_at, reported_at FROM reconciliations WHERE region = :r "
        "ORDER BY started_at DESC LIMIT 1", {"r": region}).mappings().first()
    return {
        "last_snapshot": None if snapshot is None else {
            **snapshot, "received_at": iso(snapshot["received_at"])},
        "last_reconciliation": None if reconciliation is None else {
            **reconciliation, "started_at": iso(reconciliation["started_at"]),
            "reported_at": iso(reconciliation["reported_at"])}}


def status(uow, region: str) -> dict:
    row = uow.execute(_STATUS + " WHERE r.code = :c", {"c": str(region)[:8]}).mappings().first()
    if row is None:
        raise RegionUnknown("daerah belum terdaftar", field="region")
    return _view(uow, row)


def for_administrator(uow, actor, region: str) -> dict:
    actor.require("administrator", "auditor")
    return status(uow, region)


def listing(uow, actor) -> list[dict]:
    """Every onboarded region's status, by code."""
    actor.require("administrator", "auditor")
    return [_view(uow, row) for row in uow.execute(_STATUS + " ORDER BY r.code").mappings()]


def watch(db, settings) -> None:
    """Report gaps open too long and regions silent too long, each once."""
    with db.transaction() as uow:
        gaps = uow.execute(
            "SELECT code, received_through, extract(epoch FROM now() - gap_open_since)::int "
            "FROM regions WHERE gap_open_since IS NOT NULL AND gap_reported_at IS NULL AND "
            "gap_open_since <= now() - make_interval(secs => :s) FOR UPDATE SKIP LOCKED",
            {"s": settings.gap_report_seconds}).all()
        for region, through, open_seconds in gaps:
            ranges = missing(uow, region, through)
            held = uow.execute("SELECT count(*) FROM inbound WHERE region = :r AND "
                               "sequence > :t", {"r": region, "t": through}).scalar_one()
            uow.execute("UPDATE regions SET gap_reported_at = now() WHERE code = :c",
                        {"c": region})
            uow.append(stream(region), STREAM_TYPE, ANY_VERSION, [NewEvent("SyncGapReported", {
                "region": region, "missing": ranges, "held": held,
                "open_seconds": open_seconds})])
            log.warning("sync_gap_reported", region=region, missing=ranges, held=held)
    with db.transaction() as uow:
        silent = uow.execute(
            "SELECT code, last_received_at, extract(epoch FROM now() - "
            "coalesce(last_received_at, onboarded_at))::int FROM regions WHERE "
            "silent_since IS NULL AND coalesce(last_received_at, onboarded_at) <= now() - "
            "make_interval(secs => :s) FOR UPDATE SKIP LOCKED",
            {"s": settings.silence_seconds}).all()
        for region, last, seconds in silent:
            uow.execute("UPDATE regions SET silent_since = now() WHERE code = :c", {"c": region})
            uow.append(stream(region), STREAM_TYPE, ANY_VERSION, [NewEvent("RegionWentSilent", {
                "region": region, "last_received_at": iso(last), "silent_seconds": seconds})])
            log.warning("region_silent", region=region, last_received_at=iso(last),
                        silent_seconds=seconds)
