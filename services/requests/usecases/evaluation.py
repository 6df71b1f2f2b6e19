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

import hashlib
import math
from collections import Counter, defaultdict
from datetime import date, datetime
from itertools import groupby

from services.requests.domain import APPROVING, RETURNED, SUBMITTED, VERIFYING
from services.requests.exceptions import EvaluationNotSigned, EvaluationRecorded
from shared.auth import Principal
from shared.calendar import WIB, working_days_between
from shared.canonical import dumps
from shared.errors import Forbidden, NotFound, SimasnError, ValidationFailed
from shared.eventstore import ANY_VERSION, NewEvent

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


# -- the evaluation recorded and signed (monev, issue 15 part 3) --------------------------------

DOCUMENT_KEY = "EVALUASI_LAYANAN_TAHUNAN"
STREAM_TYPE = "LayananEvaluation"
_ROW = ("year, revision, status, figures, figures_sha256, signer, correction, reason, notes, "
        "recorded_by, recorded_at, document_id, number, pdf_sha256, signed_at")


def _stream(year: int) -> str:
    return f"layanan-evaluation:{year}"


def _year(year) -> int:
    try:
        year = int(year)
    except (TypeError, ValueError):
        raise ValidationFailed("tahun harus angka, mis. 2026", field="year") from None
    if not 2000 <= year <= 2100:
        raise ValidationFailed("tahun di luar jangkauan", field="year")
    return year


def exact(value):
    """The figures as the log can carry them: the hash chain takes no float, so a rate or a
    median is kept as its decimal text ("0.8333", "2.5")."""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dict):
        return {k: exact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [exact(v) for v in value]
    return value


def _latest(uow, year: int) -> dict | None:
    row = uow.execute(f"SELECT {_ROW} FROM evaluations WHERE year = :y AND status <> "  # noqa: S608 - fixed column list
                      "'refused' ORDER BY revision DESC LIMIT 1", {"y": year}).mappings().first()
    return dict(row) if row else None


def report_values(year: int, revision: int, figures: list[dict], digest: str,
                  correction: dict | None) -> dict:
    """The signed report's values (signing's template EVALUASI_LAYANAN_TAHUNAN): totals, one
    table row per layanan, the SHA-256 of the full figures."""
    rows = [[f["layanan"], f["volume"], f["approved"], f["rejected"], f["withdrawn"], f["open"],
             f"{100 * float(f['return_rate']):.1f}%",
             "-" if f["turnaround_median_days"] is None
             else f"{float(f['turnaround_median_days']):g}",
             "-" if f["turnaround_p90_days"] is None else f["turnaround_p90_days"],
             f["sla_breaches"]] for f in figures]
    said = "-"
    if correction:
        said = (f"Laporan ini adalah ralat (revisi {revision}) atas laporan sebelumnya, dengan "
                f"alasan: {correction['reason']}")
    return {"tahun": str(year), "revisi": str(revision), "jumlah_layanan": str(len(figures)),
            "jumlah_usulan": str(sum(f["volume"] for f in figures)),
            "jumlah_disetujui": str(sum(f["approved"] for f in figures)),
            "jumlah_melewati_sla": str(sum(f["sla_breaches"] for f in figures)),
            "sidik_angka": digest, "ralat": said,
            "rujukan": f"GET /api/monev/evaluations/{year}",
            "tabel": {"title": "Angka per layanan (hari kerja)", "columns": [
                ["Layanan", 0.2], ["Usulan", 0.08], ["Setuju", 0.08], ["Tolak", 0.08],
                ["Tarik", 0.08], ["Terbuka", 0.09], ["Kembali", 0.09], ["Median", 0.09],
                ["P90", 0.08], ["Lewat SLA", 0.13]], "rows": rows}}


def record(db, signing, actor: Principal, year, data: dict,
           holidays: frozenset = frozenset()) -> dict:
    """Record the year's evaluation and have it signed; answers the recorded report.

    1. In one transaction (serialised per year): a signed revision already there is a 409
       unless this is a correction with a reason; an unsigned one is taken up again (a
       retried call finishes it); else the figures are computed from this log and
       LayananEvaluationRecorded appended with them.
    2. Signing produces and signs the report (asked on the administrator's behalf; one live
       document per subject, so asking again gives the same one).
    3. LayananEvaluationSigned with the document; a refusal appends LayananEvaluationRefused
       (the revision may be recorded again); not signed yet: 503, ask again."""

    actor.require("administrator")
    year = _year(year)
    with db.transaction(reason=data.get("reason") or f"evaluasi layanan {year}") as uow:
        uow.execute("SELECT pg_advisory_xact_lock(hashtext(:k))", {"k": _stream(year)})
        latest = _latest(uow, year)
        if latest is not None and latest["status"] == "signed" and not data.get("correction"):
            raise EvaluationRecorded(
                f"evaluasi tahun {year} sudah dicatat dan ditandatangani (revisi "
                f"{latest['revision']}); kirim ralat beserta alasannya untuk mengubahnya",
                field="year", details={"revision": latest["revision"],
                                       "document_id": str(latest["document_id"])})
        if latest is None and data.get("correction"):
            raise EvaluationRecorded(f"belum ada evaluasi tahun {year} yang dapat diralat",
                                     field="correction")
        if latest is not None and latest["status"] == "recorded":
            pending = latest  # a call that did not finish: sign what it recorded
        else:
            figures = exact(yearly_report(uow, actor, year, holidays))
            last = uow.execute("SELECT coalesce(max(revision), 0) FROM evaluations WHERE "
                               "year = :y", {"y": year}).scalar()
            pending = {"year": year, "revision": last + 1, "figures": figures,
                       "figures_sha256": hashlib.sha256(dumps(figures).encode()).hexdigest(),
                       "signer": data["signer"], "correction": bool(data.get("correction")),
                       "reason": data.get("reason"), "notes": data.get("notes")}
            uow.append(_stream(year), STREAM_TYPE, ANY_VERSION,
                       [NewEvent("LayananEvaluationRecorded", pending)])
            uow.execute(
                "INSERT INTO evaluations (year, revision, status, figures, figures_sha256, "
                "signer, correction, reason, notes, recorded_by) VALUES (:year, :revision, "
                "'recorded', CAST(:figures AS jsonb), :figures_sha256, :signer, :correction, "
                ":reason, :notes, :by)",
                {**pending, "figures": dumps(figures), "by": actor.account_id})
    revision = pending["revision"]
    order = {"subject": f"layanan-evaluation:{year}-{revision}", "document_key": DOCUMENT_KEY,
             "signer": pending["signer"],
             "values": report_values(year, revision, pending["figures"],
                                     pending["figures_sha256"],
                                     pending if pending["correction"] else None)}
    try:
        document = signing.issue_document(order)
    except SimasnError as exc:
        if exc.transient:
            raise
        with db.transaction(reason="evaluasi layanan ditolak penandatanganan") as uow:
            uow.execute("UPDATE evaluations SET status = 'refused' WHERE year = :y AND "
                        "revision = :r AND status = 'recorded'", {"y": year, "r": revision})
            uow.append(_stream(year), STREAM_TYPE, ANY_VERSION, [NewEvent(
                "LayananEvaluationRefused", {"year": year, "revision": revision,
                                             "code": exc.code, "message": exc.message})])
        raise
    if document.get("status") != "signed":
        raise EvaluationNotSigned(
            f"laporan evaluasi {year} belum selesai ditandatangani ({document.get('status')});"
            " kirim permintaan yang sama lagi", field="signer",
            details={"document_id": document.get("document_id"),
                     "status": document.get("status")})
    with db.transaction(reason=f"evaluasi layanan {year} ditandatangani") as uow:
        updated = uow.execute(
            "UPDATE evaluations SET status = 'signed', document_id = CAST(:d AS uuid), "
            "number = :n, pdf_sha256 = :s, signed_at = now() WHERE year = :y AND "
            "revision = :r AND status = 'recorded'",
            {"d": document["document_id"], "n": document.get("number"),
             "s": document.get("sha256"), "y": year, "r": revision}).rowcount
        if updated:
            uow.append(_stream(year), STREAM_TYPE, ANY_VERSION, [NewEvent(
                "LayananEvaluationSigned", {
                    "year": year, "revision": revision, "document_id": document["document_id"],
                    "number": document.get("number"), "pdf_sha256": document.get("sha256")})])
        return recorded(uow, actor, year)


def recorded(uow, actor: Principal, year) -> dict:
    """The year's recorded evaluation (its latest signed revision, else the one being signed),
    with the link to its signed PDF and the earlier revisions."""
    if not actor.has("administrator", "auditor"):
        raise Forbidden("evaluasi layanan untuk BKD dan auditor", field="role")
    try:
        year = _year(year)
    except ValidationFailed:  # a year out of range has no evaluation either
        raise NotFound(f"evaluasi tahun {str(year)[:10]} tidak ada", field="year") from None
    rows = [dict(r) for r in uow.execute(
        f"SELECT {_ROW} FROM evaluations WHERE year = :y ORDER BY revision",  # noqa: S608 - fixed column list
        {"y": year}).mappings()]
    live = [r for r in rows if r["status"] != "refused"]
    if not live:
        raise NotFound(f"evaluasi tahun {year} belum dicatat", field="year")
    signed = [r for r in live if r["status"] == "signed"]
    current = (signed or live)[-1]

    def brief(row: dict) -> dict:
        document_id = str(row["document_id"]) if row["document_id"] else None
        return {"revision": row["revision"], "status": row["status"],
                "correction": row["correction"], "reason": row["reason"],
                "recorded_by": row["recorded_by"],
                "recorded_at": row["recorded_at"].isoformat(),
                "signed_at": row["signed_at"].isoformat() if row["signed_at"] else None,
                "document_id": document_id, "number": row["number"],
                "pdf_sha256": row["pdf_sha256"],
                "document_url": f"/api/signed-documents/{document_id}/pdf" if document_id
                else None}

    return {"year": year, **brief(current), "signer": current["signer"],
            "notes": current["notes"], "figures": current["figures"],
            "figures_sha256": current["figures_sha256"],
            "revisions": [brief(r) for r in rows]}
