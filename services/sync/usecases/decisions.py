"""Decisions on a reconciliation's differences, recorded as events in the region's stream:
by difference id, or in bulk (every undecided difference of a kind, and field). Which decision
each kind allows is services/sync/domain.py's ALLOWED_DECISIONS; a decision changes until it is
applied (a take_region that records refused may change too: e.g. to ask the region for a
correction). The reads: the differences with their decisions (administrators, auditors), the
corrections asked of a region (its signed read), and a reconciliation's state with its figures.
Applying is usecases/settlement.py's, the berita acara usecases/berita_acara.py's."""

from __future__ import annotations

import uuid
from collections import defaultdict

import orjson

from services.sync import domain
from services.sync.exceptions import (
    DecisionApplied,
    DecisionNotAllowed,
    DifferenceUnknown,
    ReconciliationNotDecidable,
    ReconciliationUnknown,
)
from services.sync.usecases import STREAM_TYPE, iso, stream
from shared.errors import ValidationFailed
from shared.eventstore import ANY_VERSION, NewEvent

#: what a state is called where an administrator reads why a step is refused
STATUS_WORDS = {"running": "sedang dibandingkan", "failed": "gagal", "reported": "dilaporkan",
                "applying": "sedang diterapkan", "applied": "sudah diterapkan",
                "closing": "berita acaranya sedang ditandatangani", "closed": "sudah ditutup"}


_READ = ("SELECT * FROM reconciliations WHERE reconciliation_id = CAST(:r AS uuid) AND "
         "region = :g")
_LOCKED = _READ + " FOR UPDATE"


def reconciliation(uow, region: str, reconciliation_id, lock: bool = False) -> dict:
    """The reconciliation of `region` (ReconciliationUnknown for any other id, or none)."""
    try:
        key = str(uuid.UUID(str(reconciliation_id)))
    except ValueError:
        raise ReconciliationUnknown("rekonsiliasi tidak ditemukan",
                                    field="reconciliation_id") from None
    row = uow.execute(_LOCKED if lock else _READ, {"r": key, "g": str(region)[:8]}
                      ).mappings().first()
    if row is None:
        raise ReconciliationUnknown("rekonsiliasi tidak ditemukan untuk daerah ini",
                                    field="reconciliation_id")
    return {**row, "reconciliation_id": key}


def not_in(status: str, step: str) -> ReconciliationNotDecidable:
    return ReconciliationNotDecidable(
        f"{step} tidak dapat dilakukan: rekonsiliasi {STATUS_WORDS.get(status, status)}",
        field="reconciliation_id", details={"status": status})


def record(uow, actor, region: str, reconciliation_id, request: dict) -> dict:
    """Record the decisions of a loaded DecisionsRequest, one event per decision taken."""
    actor.require("administrator")
    rec = reconciliation(uow, region, reconciliation_id, lock=True)
    if rec["status"] not in domain.DECIDABLE:
        raise not_in(rec["status"], "keputusan")
    if "bulk" in request:
        decided, changed = _bulk(uow, actor, region, rec, request["bulk"])
    else:
        decided, changed = _by_id(uow, actor, region, rec, request["decisions"])
    return {"reconciliation_id": rec["reconciliation_id"], "decided": decided,
            "changed": changed, "undecided": undecided(uow, rec["reconciliation_id"])}


def undecided(uow, reconciliation_id: str) -> int:
    return uow.execute("SELECT count(*) FROM differences WHERE reconciliation_id = "
                       "CAST(:r AS uuid) AND decision IS NULL",
                       {"r": reconciliation_id}).scalar_one()


def _final(row) -> bool:
    """Applied to the records for good: a refused take_region may still be decided again."""
    return row["applied_at"] is not None and (row["applied_outcome"] or {}).get("status") \
        != "refused"


def _by_id(uow, actor, region: str, rec: dict, items: list[dict]) -> tuple[int, int]:
    ids = [item["difference_id"] for item in items]
    rows = {row["difference_id"]: row for row in uow.execute(
        "SELECT difference_id, kind, field, decision, applied_at, applied_outcome FROM "
        "differences WHERE reconciliation_id = CAST(:r AS uuid) AND difference_id = ANY(:ids) "
        "FOR UPDATE", {"r": rec["reconciliation_id"], "ids": ids}).mappings()}
    refused, applied, seen = [], [], set()
    for index, item in enumerate(items):
        at = f"decisions[{index}]"
        row = rows.get(item["difference_id"])
        if item["difference_id"] in seen:
            refused.append((ValidationFailed, f"{at}.difference_id", "duplicate",
                            "selisih ini disebut dua kali"))
        elif row is None:
            refused.append((DifferenceUnknown, f"{at}.difference_id", DifferenceUnknown.code,
                            f"selisih {item['difference_id']} tidak ada pada rekonsiliasi ini"))
        elif (why := domain.decision_refusal(row["kind"], row["field"], item["decision"])):
            refused.append((DecisionNotAllowed, f"{at}.decision", DecisionNotAllowed.code,
                            f"selisih {item['difference_id']} ({row['kind']}): {why}"))
        elif _final(row) and row["decision"] != item["decision"]:
            applied.append((DecisionApplied, f"{at}.difference_id", DecisionApplied.code,
                            f"selisih {item['difference_id']} sudah diterapkan ke data pegawai"))
        seen.add(item["difference_id"])
    _raise_first(refused or applied)
    items = [item for item in items if not _final(rows[item["difference_id"]])]
    if items:
        uow.execute(
            "UPDATE differences d SET decision = v.decision, note = v.note, decided_by = :by, "
            "decided_at = now(), applied_at = NULL, applied_outcome = NULL FROM unnest("
            "CAST(:ids AS integer[]), CAST(:ds AS text[]), CAST(:ns AS text[])) AS "
            "v(id, decision, note) WHERE d.reconciliation_id = CAST(:r AS uuid) AND "
            "d.difference_id = v.id",
            {"ids": [i["difference_id"] for i in items], "ds": [i["decision"] for i in items],
             "ns": [i.get("note") for i in items], "by": actor.account_id,
             "r": rec["reconciliation_id"]})
    by_decision: dict[str, list[int]] = defaultdict(list)
    changed: dict[str, list[int]] = defaultdict(list)
    notes: dict[str, set] = defaultdict(set)
    for item in items:
        previous = rows[item["difference_id"]]["decision"]
        by_decision[item["decision"]].append(item["difference_id"])
        notes[item["decision"]].add(item.get("note"))
        if previous is not None and previous != item["decision"]:
            changed[item["decision"]].append(item["difference_id"])
    events = [NewEvent("ReconciliationDecisionsRecorded", {
        "region": region, "reconciliation_id": rec["reconciliation_id"], "decision": decision,
        "difference_ids": decided, "changed_ids": changed[decision],
        # one note for the lot when they share it; each difference keeps its own in the table
        "note": next(iter(notes[decision])) if len(notes[decision]) == 1 else None,
        "selector": None}) for decision, decided in sorted(by_decision.items())]
    if events:
        uow.append(stream(region), STREAM_TYPE, ANY_VERSION, events,
                   reason="keputusan rekonsiliasi")
    return len(items), sum(len(moved) for moved in changed.values())


def _raise_first(problems: list[tuple]) -> None:
    if not problems:
        return
    cls, field, _, message = problems[0]
    raise cls(message, field=field, details={"problems": [
        {"field": f, "code": c, "message": m} for _, f, c, m in problems[:100]]})


def _bulk(uow, actor, region: str, rec: dict, bulk: dict) -> tuple[int, int]:
    kind, field, decision = bulk["kind"], bulk.get("field"), bulk["decision"]
    if kind == "field_mismatch" and decision == domain.TAKE_REGION and field is None:
        raise ValidationFailed("sebutkan kolomnya: data daerah diambil per kolom",
                               field="bulk.field")
    why = domain.decision_refusal(kind, field, decision)
    if why:
        raise DecisionNotAllowed(f"{kind}: {why}", field="bulk.decision")
    ids = [row[0] for row in uow.execute(
        "UPDATE differences SET decision = :d, note = :n, decided_by = :by, decided_at = now() "
        "WHERE reconciliation_id = CAST(:r AS uuid) AND kind = :k AND decision IS NULL AND "
        "(CAST(:f AS text) IS NULL OR field = :f) RETURNING difference_id",
        {"d": decision, "n": bulk.get("note"), "by": actor.account_id,
         "r": rec["reconciliation_id"], "k": kind, "f": field})]
    if ids:
        uow.append(stream(region), STREAM_TYPE, ANY_VERSION, [NewEvent(
            "ReconciliationDecisionsRecorded", {
                "region": region, "reconciliation_id": rec["reconciliation_id"],
                "decision": decision, "difference_ids": sorted(ids), "changed_ids": [],
                "note": bulk.get("note"), "selector": {"kind": kind, "field": field}})],
            reason="keputusan rekonsiliasi (sekaligus)")
    return len(ids), 0


# -- reads ---------------------------------------------------------------------------------------

_DIFFERENCE = ("difference_id, kind, nip, field, region_value::text AS region_value, "
               "province_value::text AS province_value, other_instansi, line, decision, "
               "decided_by, decided_at, note, applied_at, applied_outcome")


def _view(row) -> dict:
    return {**row, "region_value": _json(row["region_value"]),
            "province_value": _json(row["province_value"]),
            "decided_at": iso(row["decided_at"]), "applied_at": iso(row["applied_at"])}


def _json(text):
    return orjson.loads(text) if text is not None else None


def listing(uow, actor, region: str, reconciliation_id, query: dict) -> list[dict]:
    """The differences with their decisions, in difference id order from `after`."""
    actor.require("administrator", "auditor")
    rec = reconciliation(uow, region, reconciliation_id)
    wanted = query.get("decision")
    rows = uow.execute(
        f"SELECT {_DIFFERENCE} FROM differences WHERE reconciliation_id = CAST(:r AS uuid) "  # noqa: S608 - identifiers from code only; every value is a bound parameter
        "AND difference_id > :after AND (CAST(:k AS text) IS NULL OR kind = :k) AND "
        "(CAST(:d AS text) IS NULL OR (:d = 'undecided' AND decision IS NULL) OR decision = :d) "
        "ORDER BY difference_id LIMIT :n",
        {"r": rec["reconciliation_id"], "after": query["after"], "k": query.get("kind"),
         "d": wanted, "n": query["limit"]}).mappings()
    return [_view(row) for row in rows]


def corrections(uow, region: str, reconciliation_id) -> list[dict]:
    """What BKD asks the region to correct (the region's signed read; authenticated by the
    caller)."""
    rec = reconciliation(uow, region, reconciliation_id)
    rows = uow.execute(
        f"SELECT {_DIFFERENCE} FROM differences WHERE reconciliation_id = CAST(:r AS uuid) "  # noqa: S608 - identifiers from code only; every value is a bound parameter
        "AND decision = 'ask_correction' ORDER BY difference_id",
        {"r": rec["reconciliation_id"]}).mappings()
    return [_view(row) for row in rows]


def figures(uow, reconciliation_id: str) -> dict:
    """Per kind of difference: how many, how many of each decision, applied and refused."""
    return domain.applied_figures(uow.execute(
        "SELECT kind, decision, applied_outcome->>'status', count(*) FROM differences WHERE "
        "reconciliation_id = CAST(:r AS uuid) GROUP BY 1, 2, 3",
        {"r": reconciliation_id}).all())


def state(uow, reconciliation_id: str) -> dict:
    row = uow.execute("SELECT reconciliation_id::text AS reconciliation_id, region, year, "
                      "status, applied_at, berita_acara::text AS berita_acara, closed_at FROM "
                      "reconciliations WHERE reconciliation_id = CAST(:r AS uuid)",
                      {"r": reconciliation_id}).mappings().one()
    return {**row, "applied_at": iso(row["applied_at"]), "closed_at": iso(row["closed_at"]),
            "figures": figures(uow, reconciliation_id)}
