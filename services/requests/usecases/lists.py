"""Lists of requests and "what can I apply for", for the web application (issue 16).

A pegawai lists their own requests; staff list requests beyond the verification queue, each
within their scope: a fasilitator their OPDs' requests (never a disciplinary procedure, which
only BKD and the employee concerned see), administrators and auditors every request. Pages are
`limit`/`offset` over a stable order (newest first, then id), with `has_more` read from one row
past the page. What a returned request awaits of the pegawai comes from its last
RequestReturned. The eligibility overview evaluates every active layanan on one record in one
call (the record is fetched once by the caller)."""

from __future__ import annotations

from datetime import date, datetime, time

import orjson

from services.requests import domain
from services.requests.usecases import catalogue, workflow
from shared.auth import Principal
from shared.calendar import WIB
from shared.errors import Forbidden


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def _page(uow, where: list[str], params: dict, limit: int, offset: int) -> dict:
    rows = uow.execute(
        "SELECT r.request_id::text AS request_id, r.layanan, l.entry->>'nama' AS layanan_name, "
        "r.nip, r.opd_id, r.state, r.version, r.created_at, r.updated_at, r.submitted_at "
        "FROM requests r LEFT JOIN layanan l ON l.kode = r.layanan"
        + (" WHERE " + " AND ".join(where) if where else "")
        + " ORDER BY r.created_at DESC, r.request_id DESC LIMIT :lim OFFSET :off",
        {**params, "lim": limit + 1, "off": offset}).mappings().all()
    rows, has_more = rows[:limit], len(rows) > limit
    returned = [r["request_id"] for r in rows if r["state"] == domain.RETURNED]
    awaited = {}
    if returned:
        for stream, payload in uow.execute(
                "SELECT DISTINCT ON (stream_id) stream_id, payload::text FROM events "
                "WHERE stream_id = ANY(:s) AND event_type = 'RequestReturned' "
                "ORDER BY stream_id, version DESC",
                {"s": [workflow.request_stream(rid) for rid in returned]}):
            awaited[stream.split(":", 1)[1]] = orjson.loads(payload)
    items = []
    for r in rows:
        back = awaited.get(r["request_id"])
        items.append({
            "request_id": r["request_id"], "layanan": r["layanan"],
            "layanan_name": r["layanan_name"] or r["layanan"], "nip": r["nip"],
            "opd_id": r["opd_id"], "state": r["state"],
            "state_name": domain.STATE_NAMES.get(r["state"], r["state"]),
            "version": r["version"], "created_at": _iso(r["created_at"]),
            "updated_at": _iso(r["updated_at"]), "submitted_at": _iso(r["submitted_at"]),
            "awaiting": [{"document": code, "reason": reason} for code, reason in
                         sorted((back or {}).get("documents", {}).items())] if back else None,
            "return_note": (back or {}).get("note")})
    return {"items": items, "limit": limit, "offset": offset, "has_more": has_more}


def my_requests(uow, actor: Principal, query: dict) -> dict:
    """The caller's own requests (as the employee concerned), newest first."""
    where, params = ["r.nip = :me"], {"me": actor.account_id}
    if query.get("state"):
        where.append("r.state = :state")
        params["state"] = query["state"]
    return _page(uow, where, params, query["limit"], query["offset"])


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=WIB)


def staff_requests(uow, actor: Principal, query: dict) -> dict:
    """Requests within the caller's scope, filtered; pegawai use `my_requests`."""
    if not actor.has("fasilitator", "administrator", "auditor"):
        raise Forbidden("pegawai melihat usulannya sendiri di /api/me/requests", field="role")
    where, params = [], {}
    if not actor.has("administrator", "auditor"):
        # a fasilitator: their OPDs, and never a disciplinary procedure (workflow._visible)
        where += ["r.opd_id = ANY(:scope)", "NOT r.confidential"]
        params["scope"] = sorted(actor.opd_scope)
    for name in ("state", "layanan", "opd_id", "nip"):
        if query.get(name):
            where.append(f"r.{name} = :{name}")
            params[name] = query[name]
    if query.get("submitted_from"):
        where.append("r.submitted_at >= :sf")
        params["sf"] = _day_start(query["submitted_from"])
    if query.get("submitted_to"):
        where.append("r.submitted_at < :st")
        params["st"] = _day_start(date.fromordinal(query["submitted_to"].toordinal() + 1))
    return _page(uow, where, params, query["limit"], query["offset"])


def _on_record(record: dict, code: str) -> bool:
    return bool((record.get("documents") or {}).get(code))


def eligibility_overview(uow, actor: Principal, record: dict, today: date) -> dict:
    """Every active layanan on this record: eligible or not, why not, the documents needed and
    which of them the record already holds (a slot of the same code)."""
    answers = []
    for (kode,) in uow.execute("SELECT kode FROM layanan WHERE active ORDER BY kode").all():
        entry = catalogue.layanan(uow, kode)
        if entry["submitters"] == [workflow.ADMIN_ONLY] and not actor.has("administrator"):
            continue  # a disciplinary procedure is nobody's to apply for but BKD's
        answer = workflow.eligibility_of(uow, actor, entry, record, today)
        answers.append({
            "kode": kode, "nama": entry["nama"], "eligible": answer["eligible"],
            "eligible_from": answer.get("eligible_from"), "tmt": answer.get("tmt"),
            "may_submit": actor.has(*entry["submitters"]),
            "reasons": [{k: c.get(k) for k in ("rule", "message", "eligible_from",
                                                 "request_id") if k in c}
                        for c in answer["checks"] if not c["ok"]],
            "checks": answer["checks"],
            "documents_required": [{**d, "on_record": _on_record(record, d["code"])}
                                   for d in answer["documents_required"]]})
    return {"nip": record["nip"], "as_of": today.isoformat(), "layanan": answers}
