"""The yearly reconciliation's report: a region's loaded snapshot compared with the records,
every difference listed (table `differences`, numbered 1..n in a stable order: kind as
DIFFERENCE_KINDS lists them, NIP, field, other instansi, line).

An administrator starts it (ReconciliationStarted, status running); a worker (a timer, one
replica at a time by a lease on the row) copies the region's employees as records shows them
(`records.region_roster`, keyset pages) into a temporary table, asks records which instansi
holds the snapshot's NIPs it does not have (`records.locate_nips`) and compares everything in
SQL, in one transaction with the differences, the figures and ReconciliationReported: a worker
that dies leaves nothing half-written and the next one starts again. Decisions on the
differences, applying them and the berita acara come after `reported` (another module).

Kinds:
- nip_invalid: the row's NIP fails the NIP rules (structure, agreement with the row's birth date,
  gender, TMT CPNS), or repeats a NIP of an earlier line; such a row is compared no further (its
  NIP identifies nobody for sure). region_value: the reasons.
- missing_in_records: a valid row whose NIP records does not hold at all. region_value: the row.
- missing_in_region: an employee of the region's instansi in records and not in the snapshot.
  province_value: the record's compared fields.
- field_mismatch: one per field that differs, for fields the snapshot has a column for
  (COMPARED_FIELDS), each side normalised first: empty is none; free text (names, places, unit)
  trimmed, inner spaces collapsed, case ignored; codes trimmed and upper-cased; dates as written
  (ISO). region_value/province_value: the values as each side has them.
- nip_in_two_instansi: a valid row's NIP held in records by another instansi, or present in
  another region's latest loaded snapshot; other_instansi names it; province_value says where
  ({"in_records": .., "in_snapshot": ..})."""

from __future__ import annotations

import io
import uuid

import orjson

from services.sync.exceptions import (
    ReconciliationRunning,
    ReconciliationUnknown,
    RegionUnknown,
    SnapshotNotLoaded,
    SnapshotUnknown,
)
from services.sync.usecases import STREAM_TYPE, copy_in, iso, stream
from services.sync.usecases.receiving import authenticate
from services.sync.usecases.snapshots import known
from shared.contracts import sync as c
from shared.errors import SimasnError
from shared.eventstore import ANY_VERSION, NewEvent
from shared.logging import get_logger

log = get_logger(__name__)

#: how many NIPs one records.locate_nips call asks about
LOCATE_BATCH = 20_000


# -- starting and reading ------------------------------------------------------------------------

def start(uow, actor, region: str, data: dict) -> dict:
    """Start the report for `region` on one of its loaded snapshots; one at a time per region."""
    actor.require("administrator")
    if uow.execute("SELECT 1 FROM regions WHERE code = :r FOR UPDATE",
                   {"r": str(region)[:8]}).first() is None:
        raise RegionUnknown("daerah belum terdaftar", field="region")
    snapshot_id = str(data["snapshot_id"])
    snapshot = uow.execute("SELECT status FROM snapshots WHERE snapshot_id = CAST(:s AS uuid) "
                           "AND region = :r", {"s": snapshot_id, "r": region}).first()
    if snapshot is None:
        raise SnapshotUnknown("snapshot daerah ini tidak ditemukan", field="snapshot_id")
    if snapshot[0] != "loaded":
        raise SnapshotNotLoaded(f"snapshot berstatus {snapshot[0]}; rekonsiliasi hanya untuk "
                                "snapshot yang sudah dimuat (loaded)", field="snapshot_id")
    if uow.execute("SELECT 1 FROM reconciliations WHERE region = :r AND status = 'running'",
                   {"r": region}).first() is not None:
        raise ReconciliationRunning("rekonsiliasi daerah ini masih berjalan; tunggu laporannya",
                                    field="region")
    reconciliation_id = str(uuid.uuid4())
    uow.execute("INSERT INTO reconciliations (reconciliation_id, region, snapshot_id, year, "
                "status, requested_by) VALUES (CAST(:i AS uuid), :r, CAST(:s AS uuid), :y, "
                "'running', :by)", {"i": reconciliation_id, "r": region, "s": snapshot_id,
                                    "y": data["year"], "by": actor.account_id})
    uow.append(stream(region), STREAM_TYPE, ANY_VERSION, [NewEvent("ReconciliationStarted", {
        "region": region, "reconciliation_id": reconciliation_id, "snapshot_id": snapshot_id,
        "year": data["year"]})], reason=f"rekonsiliasi {data['year']}")
    return get(uow, region, reconciliation_id)


_COLUMNS = ("reconciliation_id::text AS reconciliation_id, region, snapshot_id::text AS "
            "snapshot_id, year, status, requested_by, started_at, reported_at, figures, error, "
            "applied_at, closed_at, berita_acara::text AS berita_acara")


def _view(row) -> dict:
    return {**dict(row), **{k: iso(row[k]) for k in ("started_at", "reported_at", "applied_at",
                                                     "closed_at")}}


def _uuid(value) -> str | None:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return None


def get(uow, region: str, reconciliation_id) -> dict:
    wanted = _uuid(reconciliation_id)
    row = None if wanted is None else uow.execute(
        f"SELECT {_COLUMNS} FROM reconciliations WHERE reconciliation_id = CAST(:i AS uuid) "  # noqa: S608 - constant columns
        "AND region = :r", {"i": wanted, "r": str(region)[:8]}).mappings().first()
    if row is None:
        raise ReconciliationUnknown("rekonsiliasi tidak ditemukan", field="reconciliation_id")
    return _view(row)


def for_administrator(uow, actor, region: str, reconciliation_id) -> dict:
    actor.require("administrator", "auditor")
    return get(uow, region, reconciliation_id)


def listing(uow, actor, region: str) -> list[dict]:
    actor.require("administrator", "auditor")
    known(uow, region)
    return [_view(row) for row in uow.execute(
        f"SELECT {_COLUMNS} FROM reconciliations WHERE region = :r ORDER BY started_at DESC",  # noqa: S608 - constant columns
        {"r": str(region)[:8]}).mappings()]


def differences(uow, region: str, reconciliation_id, query: dict) -> dict:
    """One page of the report's differences in their order, of one kind or all."""
    found = get(uow, region, reconciliation_id)
    params = {"i": found["reconciliation_id"], "k": query.get("kind"),
              "o": query["offset"], "n": query["limit"]}
    where = "reconciliation_id = CAST(:i AS uuid) AND (CAST(:k AS text) IS NULL OR kind = :k)"
    total = uow.execute(f"SELECT count(*) FROM differences WHERE {where}", params).scalar_one()  # noqa: S608 - constant clause
    rows = uow.execute(
        "SELECT difference_id, kind, nip, field, region_value, province_value, "  # noqa: S608 - constant clause
        f"other_instansi, line, decision FROM differences WHERE {where} "
        "ORDER BY difference_id OFFSET :o LIMIT :n", params).mappings()
    return {"reconciliation_id": found["reconciliation_id"], "total": total,
            "offset": query["offset"], "differences": [dict(r) for r in rows]}


def for_administrator_differences(uow, actor, region, reconciliation_id, query) -> dict:
    actor.require("administrator", "auditor")
    return differences(uow, region, reconciliation_id, query)


def signed_get(uow, settings, region: str, reconciliation_id, request: dict) -> dict:
    authenticate(uow, settings, region, request)
    return get(uow, region, reconciliation_id)


def signed_differences(uow, settings, region, reconciliation_id, request, query) -> dict:
    authenticate(uow, settings, region, request)
    return differences(uow, region, reconciliation_id, query)


# -- the worker ------------------------------------------------------------------------------------

def _take(db, settings) -> dict | None:
    with db.transaction() as uow:
        row = uow.execute(
            "UPDATE reconciliations SET runner = :me, lease_until = now() + "
            "make_interval(secs => :l) WHERE reconciliation_id = (SELECT reconciliation_id "
            "FROM reconciliations WHERE status = 'running' AND (lease_until IS NULL OR "
            "lease_until < now() OR runner = :me) ORDER BY started_at LIMIT 1 "
            "FOR UPDATE SKIP LOCKED) RETURNING reconciliation_id::text AS reconciliation_id, "
            "region, snapshot_id::text AS snapshot_id",
            {"me": settings.runner, "l": settings.snapshot_lease_seconds}).mappings().first()
        return dict(row) if row else None


def _release(db, settings, reconciliation_id: str) -> None:
    with db.transaction() as uow:
        uow.execute("UPDATE reconciliations SET runner = NULL, lease_until = NULL WHERE "
                    "reconciliation_id = CAST(:i AS uuid) AND runner = :me",
                    {"i": reconciliation_id, "me": settings.runner})


def run_next(db, records, settings) -> str | None:
    """Report one running reconciliation; its id, or None when none is due. Records
    unreachable: tried again at a later tick; refused by records for good: failed."""
    taken = _take(db, settings)
    if taken is None:
        return None
    rid = taken["reconciliation_id"]
    try:
        with db.transaction(reason="laporan rekonsiliasi") as uow:
            mine = uow.execute("SELECT 1 FROM reconciliations WHERE reconciliation_id = "
                               "CAST(:i AS uuid) AND runner = :me AND status = 'running' "
                               "FOR UPDATE", {"i": rid, "me": settings.runner}).first()
            if mine is not None:
                report(uow, records, settings, taken)
    except SimasnError as exc:
        if exc.transient:
            log.warning("reconciliation_deferred", reconciliation_id=rid, code=exc.code)
            _release(db, settings, rid)
            return rid
        _failed(db, settings, taken, exc.code, exc.message)
    except Exception as exc:  # noqa: BLE001 - records not running, a broken reply: later
        log.warning("reconciliation_deferred", reconciliation_id=rid, error=type(exc).__name__)
        _release(db, settings, rid)
    return rid


def _failed(db, settings, taken: dict, code: str, message: str) -> None:
    with db.transaction(reason="rekonsiliasi gagal") as uow:
        uow.execute("UPDATE reconciliations SET status = 'failed', error = CAST(:e AS jsonb), "
                    "runner = NULL, lease_until = NULL WHERE reconciliation_id = "
                    "CAST(:i AS uuid) AND status = 'running'",
                    {"e": orjson.dumps({"code": code, "message": message}).decode(),
                     "i": taken["reconciliation_id"]})
        uow.append(stream(taken["region"]), STREAM_TYPE, ANY_VERSION, [NewEvent(
            "ReconciliationFailed", {"region": taken["region"],
                                     "reconciliation_id": taken["reconciliation_id"],
                                     "code": code, "reason": message[:500]})])
    log.error("reconciliation_failed", reconciliation_id=taken["reconciliation_id"], code=code)


def _copy(uow, table: str, rows) -> None:
    buffer = io.StringIO()
    for values in rows:
        buffer.write("\t".join(_copy_field(v) for v in values) + "\n")
    buffer.seek(0)
    copy_in(uow, f"COPY {table} FROM STDIN", buffer)


def _copy_field(value) -> str:
    if value is None:
        return "\\N"
    return (str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
            .replace("\r", "\\r"))


def _fetch_roster(uow, records, settings, region: str) -> int:
    """The region's employees as records shows them, page by page into `roster`."""
    uow.execute("CREATE TEMP TABLE roster (nip text PRIMARY KEY, data jsonb NOT NULL) "
                "ON COMMIT DROP")
    after, count = None, 0
    while True:
        page = records.region_roster({"instansi": region, "after_nip": after,
                                      "limit": settings.roster_page})
        columns = page["columns"]
        _copy(uow, "roster", ((row[0], orjson.dumps(dict(zip(columns, row[1:], strict=True))
                                                    ).decode()) for row in page["rows"]))
        count += len(page["rows"])
        after = page.get("next_after")
        if not after:
            return count


_SNAP = """
CREATE TEMP TABLE snap ON COMMIT DROP AS
SELECT line, nip, data,
       CASE WHEN problems IS NOT NULL THEN
       (SELECT jsonb_agg(p ORDER BY p->>'code') FROM jsonb_array_elements(problems) p
         WHERE p->>'code' LIKE 'nip%' OR p->>'code' = 'json_invalid') END AS nip_problems,
       min(line) OVER (PARTITION BY nip) AS first_line
  FROM snapshot_rows WHERE snapshot_id = CAST(:s AS uuid);
CREATE INDEX ON snap (nip);
ANALYZE snap; ANALYZE roster;
"""

_NORM = """CASE WHEN f = ANY(CAST(:free AS text[]))
     THEN nullif(upper(regexp_replace(btrim(v), '\\s+', ' ', 'g')), '')
     WHEN f LIKE '%date%' OR f LIKE 'tmt%' THEN nullif(btrim(v), '')
     ELSE nullif(upper(btrim(v)), '') END"""

_DIFFERENCES = f"""
INSERT INTO differences (reconciliation_id, difference_id, kind, nip, field, region_value,
                         province_value, other_instansi, line)
SELECT CAST(:rid AS uuid),
       row_number() OVER (ORDER BY array_position(CAST(:kinds AS text[]), kind), nip COLLATE "C",
                          field COLLATE "C" NULLS FIRST, other_instansi COLLATE "C" NULLS FIRST,
                          line NULLS FIRST),
       kind, nip, field, region_value, province_value, other_instansi, line
FROM (
  SELECT 'nip_invalid' AS kind, nip, NULL::text AS field,
         coalesce(nip_problems, jsonb_build_array(jsonb_build_object(
             'field', 'nip', 'code', 'nip_duplicate',
             'message', 'NIP sama dengan baris ' || first_line))) AS region_value,
         NULL::jsonb AS province_value, NULL::text AS other_instansi, line
    FROM snap WHERE nip_problems IS NOT NULL OR line > first_line
  UNION ALL
  SELECT 'missing_in_records', s.nip, NULL, s.data, NULL, NULL, s.line
    FROM snap s
   WHERE s.nip_problems IS NULL AND s.line = s.first_line
     AND NOT EXISTS (SELECT 1 FROM roster r WHERE r.nip = s.nip)
     AND NOT EXISTS (SELECT 1 FROM elsewhere e WHERE e.nip = s.nip)
  UNION ALL
  SELECT 'missing_in_region', r.nip, NULL, NULL, r.data, NULL, NULL
    FROM roster r WHERE NOT EXISTS (SELECT 1 FROM snap s WHERE s.nip = r.nip)
  UNION ALL
  SELECT 'field_mismatch', s.nip, f, to_jsonb(s.data->>f), to_jsonb(r.data->>f), NULL, s.line
    FROM snap s JOIN roster r ON r.nip = s.nip
    CROSS JOIN unnest(CAST(:fields AS text[])) AS f
   WHERE s.nip_problems IS NULL AND s.line = s.first_line
     AND s.data->>f IS DISTINCT FROM r.data->>f  -- equal as written: equal normalised
     AND ({_NORM.replace('v)', "s.data->>f)")}) IS DISTINCT FROM
         ({_NORM.replace('v)', "r.data->>f)")})
  UNION ALL
  SELECT 'nip_in_two_instansi', s.nip, NULL, NULL,
         jsonb_build_object('in_records', bool_or(o.in_records),
                            'in_snapshot', max(o.snapshot_id)), o.instansi, s.line
    FROM snap s JOIN (
         SELECT nip, instansi, true AS in_records, NULL::text AS snapshot_id FROM elsewhere
         UNION ALL
         SELECT sr.nip, l.region, false, sr.snapshot_id::text
           FROM snapshot_rows sr JOIN (
                SELECT DISTINCT ON (region) region, snapshot_id FROM snapshots
                 WHERE status = 'loaded' AND region <> :region
                 ORDER BY region, loaded_at DESC) l ON l.snapshot_id = sr.snapshot_id
          WHERE sr.nip IN (SELECT nip FROM snap)) o ON o.nip = s.nip
   WHERE s.nip_problems IS NULL AND s.line = s.first_line
   GROUP BY s.nip, o.instansi, s.line
) d
"""  # noqa: S608 - the normalisation is a constant above

#: the report's digest: each difference as the JSON array below (PostgreSQL's jsonb text),
#: in difference_id order, joined by newlines, SHA-256 in hex
_DIGEST = """
SELECT encode(sha256(convert_to(coalesce(string_agg(jsonb_build_array(
         difference_id, kind, nip, field, region_value, province_value, other_instansi,
         line)::text, E'\\n' ORDER BY difference_id), ''), 'UTF8')), 'hex')
  FROM differences WHERE reconciliation_id = CAST(:rid AS uuid)
"""


def report(uow, records, settings, taken: dict) -> dict:
    """Compare and record the report in `uow` (the caller's one transaction)."""
    rid, region, snapshot_id = taken["reconciliation_id"], taken["region"], taken["snapshot_id"]
    roster_size = _fetch_roster(uow, records, settings, region)
    uow.execute(_SNAP, {"s": snapshot_id})
    uow.execute("CREATE TEMP TABLE elsewhere (nip text PRIMARY KEY, instansi text NOT NULL) "
                "ON COMMIT DROP")
    unknown = [row[0] for row in uow.execute(
        "SELECT DISTINCT nip FROM snap s WHERE nip_problems IS NULL AND NOT EXISTS ("
        "SELECT 1 FROM roster r WHERE r.nip = s.nip) ORDER BY nip")]
    for start_at in range(0, len(unknown), LOCATE_BATCH):
        held = records.locate_nips({"nips": unknown[start_at:start_at + LOCATE_BATCH]})
        _copy(uow, "elsewhere", ((nip, instansi) for nip, instansi in held.items()
                                 if instansi != region))
    uow.execute("ANALYZE elsewhere")
    columns = uow.execute("SELECT columns FROM snapshots WHERE snapshot_id = CAST(:s AS uuid)",
                          {"s": snapshot_id}).scalar_one() or []
    compared = [f for f in c.COMPARED_FIELDS if f in columns]
    uow.execute(_DIFFERENCES, {"rid": rid, "kinds": list(c.DIFFERENCE_KINDS),
                               "fields": compared, "free": list(c.FREE_TEXT_FIELDS),
                               "region": region})
    counts = dict(uow.execute("SELECT kind, count(*) FROM differences WHERE reconciliation_id "
                              "= CAST(:rid AS uuid) GROUP BY kind", {"rid": rid}).all())
    rows = uow.execute("SELECT count(*) FROM snap").scalar_one()
    # employees both sides hold with no difference at all (the berita acara's "data cocok")
    matched = uow.execute(
        "SELECT count(*) FROM (SELECT s.nip FROM snap s JOIN roster r ON r.nip = s.nip EXCEPT "
        "SELECT nip FROM differences WHERE reconciliation_id = CAST(:rid AS uuid)) m",
        {"rid": rid}).scalar_one()
    digest = uow.execute(_DIGEST, {"rid": rid}).scalar_one()
    figures = {"rows_compared": rows, "roster": roster_size, "matched": matched,
               "compared_fields": compared,
               "differences": sum(counts.values()),
               **{kind: counts.get(kind, 0) for kind in c.DIFFERENCE_KINDS},
               "differences_sha256": digest}
    uow.execute("UPDATE reconciliations SET status = 'reported', reported_at = now(), "
                "figures = CAST(:f AS jsonb), runner = NULL, lease_until = NULL WHERE "
                "reconciliation_id = CAST(:rid AS uuid)",
                {"f": orjson.dumps(figures).decode(), "rid": rid})
    uow.append(stream(region), STREAM_TYPE, ANY_VERSION, [NewEvent("ReconciliationReported", {
        "region": region, "reconciliation_id": rid, "figures": figures,
        "differences_sha256": digest})])
    log.info("reconciliation_reported", region=region, reconciliation_id=rid,
             differences=figures["differences"], rows=rows, roster=roster_size)
    return figures
