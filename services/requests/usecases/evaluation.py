"""The yearly evaluation of each layanan (Pergub 73/2020: every service is evaluated once a
year), computed from the requests log alone.

Definitions, per layanan, over the requests first submitted in the year:
- volume: how many; approved / rejected / withdrawn / still open: how each ended (or not);
  return rate: share returned for correction at least once;
- turnaround: working days from the first submission to the decision (approval or rejection);
  median and p90 (nearest rank) over decided requests;
- SLA breaches: decided requests whose working days in BKD's hands (submitted, under
  verification, under approval — not the days back with the employee) exceed the SLA of the
  catalogue version they were submitted under;
- most-rejected documents: the documents named when returning requests, and those a verifier
  judged not original or not legible, most frequent first.

`yearly_report` is the use case: it reads the catalogue's and the requests' events from the log
and hands them to `report`, the computation (plain functions, tested without a database)."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from datetime import date, datetime
from itertools import groupby

from services.requests.domain import APPROVING, RETURNED, SUBMITTED, VERIFYING
from shared.auth import Principal
from shared.calendar import WIB, working_days_between
from shared.errors import Forbidden, ValidationFailed

BKD_STAGES = frozenset({SUBMITTED, VERIFYING, APPROVING})
STAGE_AFTER = {"RequestSubmitted": SUBMITTED, "VerificationStarted": VERIFYING,
               "RequestReturned": RETURNED, "RequestVerified": APPROVING,
               "RequestApproved": "approved", "RequestRejected": "rejected",
               "RequestWithdrawn": "withdrawn", "SigningStarted": "signing",
               "RequestCompleted": "completed"}


def _day(recorded_at: str) -> date:
    """The WIB day of a moment recorded in UTC."""
    return datetime.fromisoformat(recorded_at.replace("Z", "+00:00")).astimezone(WIB).date()


def nearest_rank(values: list[int], share: float) -> int | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(share * len(ordered))) - 1]


def median(values: list[int]) -> float | None:
    if not values:
        return None
    ordered, middle = sorted(values), len(values) // 2
    if len(ordered) % 2:
        return float(ordered[middle])
    return (ordered[middle - 1] + ordered[middle]) / 2


def one_request(events, holidays: frozenset = frozenset()) -> dict | None:
    """What one request's events say for the evaluation (None when never submitted)."""
    submitted = decided = None
    outcome, stage, stage_since, bkd_days, returned = "open", None, None, 0, False
    documents: list[str] = []
    layanan = version = None
    for event in events:
        kind, day = event.event_type, _day(event.recorded_at)
        if kind == "RequestDrafted":
            layanan, version = event.payload["layanan"], event.payload["catalogue_version"]
            continue
        if kind not in STAGE_AFTER:
            continue
        if stage in BKD_STAGES and stage_since is not None:
            bkd_days += working_days_between(stage_since, day, holidays)
        if kind == "RequestSubmitted" and submitted is None:
            submitted = day
        if kind == "RequestReturned":
            returned = True
            documents += [code for code in event.payload["documents"] if code != "usulan"]
        if kind == "RequestVerified":
            documents += [code for code, verdict in event.payload["checks"].items()
                          if not (verdict.get("original") and verdict.get("legible"))]
        if kind in ("RequestApproved", "RequestRejected"):
            decided, outcome = day, "approved" if kind == "RequestApproved" else "rejected"
        if kind == "RequestWithdrawn":
            outcome = "withdrawn"
        stage, stage_since = STAGE_AFTER[kind], day
    if submitted is None:
        return None
    return {"layanan": layanan, "catalogue_version": version, "submitted": submitted,
            "outcome": outcome, "returned": returned, "documents": documents,
            "turnaround": working_days_between(submitted, decided, holidays) if decided
            else None,
            "bkd_days": bkd_days if decided else None}


def report(requests_events, year: int, sla_for,
           holidays: frozenset = frozenset()) -> list[dict]:
    """`requests_events`: an iterable of each request's events in order; `sla_for(layanan,
    catalogue_version)` gives the SLA in working days it was submitted under."""
    rows: dict[str, list[dict]] = defaultdict(list)
    for events in requests_events:
        summary = one_request(events, holidays)
        if summary is not None and summary["submitted"].year == year:
            rows[summary["layanan"]].append(summary)
    out = []
    for layanan, items in sorted(rows.items()):
        volume = len(items)
        decided = [i for i in items if i["turnaround"] is not None]
        turnaround = [i["turnaround"] for i in decided]
        breaches = [i for i in decided
                    if i["bkd_days"] > sla_for(layanan, i["catalogue_version"])]
        counted = Counter(code for i in items for code in i["documents"])
        outcomes = Counter(i["outcome"] for i in items)
        out.append({
            "layanan": layanan, "year": year, "volume": volume,
            "approved": outcomes["approved"], "rejected": outcomes["rejected"],
            "withdrawn": outcomes["withdrawn"], "open": outcomes["open"],
            "approval_rate": round(outcomes["approved"] / volume, 4),
            "rejection_rate": round(outcomes["rejected"] / volume, 4),
            "return_rate": round(sum(i["returned"] for i in items) / volume, 4),
            "turnaround_median_days": median(turnaround),
            "turnaround_p90_days": nearest_rank(turnaround, 0.9),
            "sla_breaches": len(breaches),
            "most_rejected_documents": [{"document": code, "count": count}
                                        for code, count in sorted(
                                            counted.items(), key=lambda kv: (-kv[1], kv[0]))[:5]],
        })
    return out


def yearly_report(uow, actor: Principal, year, holidays: frozenset = frozenset()) -> list[dict]:
    """The yearly evaluation of every layanan, for administrators and auditors: each request
    measured against the SLA of the catalogue version it was submitted under (the latest
    version's when that one is unknown)."""
    if not actor.has("administrator", "auditor"):
        raise Forbidden("evaluasi layanan untuk BKD dan auditor", field="role")
    try:
        year = int(year)
    except (TypeError, ValueError):
        raise ValidationFailed("tahun harus angka, mis. 2026", field="year") from None
    if not 2000 <= year <= 2100:
        raise ValidationFailed("tahun di luar jangkauan", field="year")
    slas: dict[tuple[str, int | None], int] = {}
    for event in uow.store.iter_stream_type(uow.dbapi, "Layanan"):
        if event.event_type == "LayananPublished":
            sla = event.payload["entry"]["sla_hari_kerja"]
            slas[(event.payload["kode"], event.payload["version"])] = sla
            slas[(event.payload["kode"], None)] = sla
    streams = groupby(uow.store.iter_stream_type(uow.dbapi, "Request"), key=lambda e: e.stream_id)
    return report((list(events) for _, events in streams), year,
                  lambda kode, version: slas.get((kode, version), slas.get((kode, None), 0)),
                  holidays)
