"""The disclosure log (issue 17 part 3): every release of personal data is a
PersonalDataDisclosed event in records' log (stream disclosure:<uuid>) and rows of the
`disclosures`/`disclosure_subjects` read model, written in one unit of work.

- Records' own releases (an agency API answer, an auditor's read) are recorded by `record` in the
  transaction that reads the data: the answer and its disclosure commit together or not at all.
- Another service that releases data (reporting's exports, a data request's release) calls
  `records.record_disclosure` before it answers, and answers nothing if that fails.

Who sees the log: the pegawai the releases of their own data (`mine`), BKD and auditors all of
it (`listing`, `report`)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime

from shared.auth import Principal
from shared.calendar import WIB
from shared.errors import Forbidden
from shared.eventstore import NO_STREAM, NewEvent

STREAM_TYPE = "Disclosure"
OVERSEERS = ("administrator", "auditor")
_SUBJECT_BATCH = 5000
_NIP = re.compile(r"^\d{18}$")
_COLUMNS = ("d.disclosure_id, d.channel, d.recipient_kind, d.recipient_id, d.recipient_name, "
            "d.basis_kind, d.basis_reference, d.purpose, d.fields, d.reference, d.subjects, "
            "d.actor_id, d.disclosed_at")


def stream(disclosure_id: str) -> str:
    return f"disclosure:{disclosure_id}"


def record(uow, data: dict, actor_id: str | None = None) -> dict:
    """Record one release (a loaded shared/contracts/disclosures.py DisclosureRecord). An id
    already recorded is that disclosure again (a retry), not a second one."""
    disclosure_id = str(data.get("disclosure_id") or uuid.uuid4())
    existing = _recorded(uow, disclosure_id)
    if existing is not None:
        return {**existing, "recorded": False}
    nips = sorted(set(data["nips"]))
    fields_released = sorted(set(data["fields"]))
    recipient, basis = data["recipient"], data["basis"]
    payload = {"disclosure_id": disclosure_id, "channel": data["channel"],
               "recipient": {"kind": recipient["kind"], "id": recipient["id"],
                             "name": recipient.get("name")},
               "basis": {"kind": basis["kind"], "reference": basis["reference"]},
               "purpose": data["purpose"], "fields": fields_released, "nips": nips,
               "reference": data.get("reference")}
    uow.append(stream(disclosure_id), STREAM_TYPE, NO_STREAM,
               [NewEvent("PersonalDataDisclosed", payload)],
               reason=f"pengungkapan data: {data['purpose']}"[:500])
    uow.execute(
        "INSERT INTO disclosures (disclosure_id, channel, recipient_kind, recipient_id, "
        "recipient_name, basis_kind, basis_reference, purpose, fields, reference, subjects, "
        "actor_id) VALUES (CAST(:id AS uuid), :channel, :rkind, :rid, :rname, :bkind, :bref, "
        ":purpose, :fields, :reference, :subjects, :actor)",
        {"id": disclosure_id, "channel": data["channel"], "rkind": recipient["kind"],
         "rid": recipient["id"], "rname": recipient.get("name"), "bkind": basis["kind"],
         "bref": basis["reference"], "purpose": data["purpose"], "fields": fields_released,
         "reference": data.get("reference"), "subjects": len(nips), "actor": actor_id})
    from psycopg2.extras import execute_values

    cur = uow.dbapi.cursor()
    for start in range(0, len(nips), _SUBJECT_BATCH):
        execute_values(cur, "INSERT INTO disclosure_subjects (nip, disclosure_id) VALUES %s",
                       [(nip, disclosure_id) for nip in nips[start:start + _SUBJECT_BATCH]],
                       template="(%s, %s::uuid)", page_size=_SUBJECT_BATCH)
    return {**_recorded(uow, disclosure_id), "recorded": True}


def record_for_service(uow, actor: Principal, data: dict) -> dict:
    """`records.record_disclosure`: a service that releases data, acting as itself (role
    `system`; the gateway cannot claim it, shared/callers.py). The broker lets only the
    releasing services call it at all (shared/brokerauth.py RPC_CALLS)."""
    if not actor.has("system"):
        raise Forbidden("hanya layanan yang mengungkapkan data mencatat pengungkapan",
                        field="role")
    return record(uow, data, actor.account_id)


def _recorded(uow, disclosure_id: str) -> dict | None:
    row = uow.execute("SELECT disclosure_id, channel, subjects, disclosed_at FROM disclosures "
                      "WHERE disclosure_id = CAST(:id AS uuid)",
                      {"id": disclosure_id}).mappings().first()
    if row is None:
        return None
    return {"disclosure_id": str(row["disclosure_id"]), "channel": row["channel"],
            "subjects": row["subjects"], "disclosed_at": row["disclosed_at"].isoformat()}


# -- records' own releases ------------------------------------------------------------------

#: why an auditor reads a record: the audit mandate (Pergub 73/2020), the basis of their role
AUDIT_PURPOSE = "pemeriksaan (audit) data kepegawaian"


def record_auditor_read(uow, actor: Principal, nip: str, fields_released, reference: str):
    """An auditor read a person's record (as it is, as it was, its timeline or a field's
    history): recorded in the transaction of the read. BKD's administrators maintain the
    records and are not a disclosure; an auditor reading their own record is not either."""
    if not actor.has("auditor") or actor.has("administrator", "system"):
        return
    if actor.account_id == nip:
        return
    record(uow, {"channel": "auditor_read",
                 "recipient": {"kind": "auditor", "id": actor.account_id, "name": None},
                 "basis": {"kind": "audit", "reference": actor.account_id},
                 "purpose": AUDIT_PURPOSE, "fields": sorted(fields_released) or ["record"],
                 "nips": [nip], "reference": reference}, actor.account_id)


# -- reading the log ------------------------------------------------------------------------

def _view(row, full: bool) -> dict:
    view = {"disclosure_id": str(row["disclosure_id"]), "channel": row["channel"],
            "recipient": {"kind": row["recipient_kind"], "id": row["recipient_id"],
                          "name": row["recipient_name"]},
            "basis": {"kind": row["basis_kind"], "reference": row["basis_reference"]},
            "purpose": row["purpose"], "fields": list(row["fields"]),
            "disclosed_at": row["disclosed_at"].isoformat()}
    if full:
        view |= {"reference": row["reference"], "subjects": row["subjects"],
                 "actor_id": row["actor_id"]}
    return view


def mine(uow, actor: Principal, query: dict) -> list[dict]:
    """The releases of the caller's own data (a pegawai's account id is their NIP): who, when,
    which fields, why - never whose else's data the same release held."""
    nip = actor.account_id
    if not _NIP.match(nip or ""):
        raise Forbidden("hanya pegawai yang memiliki data kepegawaian", field="role")
    rows = uow.execute(
        f"SELECT {_COLUMNS} FROM disclosure_subjects s JOIN disclosures d USING "  # noqa: S608 - fixed columns
        "(disclosure_id) WHERE s.nip = :nip ORDER BY d.disclosed_at DESC, d.disclosure_id "
        "LIMIT :limit OFFSET :offset",
        {"nip": nip, "limit": query["limit"], "offset": query["offset"]}).mappings().all()
    return [_view(r, full=False) for r in rows]


def _filters(query: dict) -> tuple[list[str], dict]:
    where, params = ["TRUE"], {}
    for key in ("channel", "recipient_kind", "recipient_id", "purpose"):
        if query.get(key):
            where.append(f"d.{key} = :{key}")
            params[key] = query[key]
    if query.get("nip"):
        where.append("EXISTS (SELECT 1 FROM disclosure_subjects s WHERE s.nip = :nip AND "
                     "s.disclosure_id = d.disclosure_id)")
        params["nip"] = query["nip"]
    if query.get("since"):
        where.append("d.disclosed_at >= :since")
        params["since"] = datetime.combine(query["since"], datetime.min.time(), WIB)
    if query.get("until"):
        where.append("d.disclosed_at < :until + interval '1 day'")
        params["until"] = datetime.combine(query["until"], datetime.min.time(), WIB)
    return where, params


def listing(uow, actor: Principal, query: dict) -> list[dict]:
    actor.require(*OVERSEERS)
    where, params = _filters(query)
    rows = uow.execute(
        f"SELECT {_COLUMNS} FROM disclosures d WHERE " + " AND ".join(where)  # noqa: S608 - fixed pieces; values bound
        + " ORDER BY d.disclosed_at DESC, d.disclosure_id LIMIT :limit OFFSET :offset",
        {**params, "limit": query["limit"], "offset": query["offset"]}).mappings().all()
    return [_view(r, full=True) for r in rows]


def report(uow, actor: Principal, query: dict) -> dict:
    """BKD's report: releases per recipient (and purpose, channel) and per purpose, with the
    number of distinct employees concerned."""
    actor.require(*OVERSEERS)
    where, params = _filters(query)
    clause = " AND ".join(where)
    rows = uow.execute(
        "SELECT d.recipient_kind, d.recipient_id, max(d.recipient_name) AS recipient_name, "  # noqa: S608 - fixed pieces; values bound
        "d.purpose, d.channel, count(DISTINCT d.disclosure_id) AS disclosures, "
        "count(DISTINCT s.nip) AS subjects, min(d.disclosed_at) AS first_at, "
        "max(d.disclosed_at) AS last_at FROM disclosures d LEFT JOIN disclosure_subjects s "
        f"USING (disclosure_id) WHERE {clause} GROUP BY d.recipient_kind, d.recipient_id, "
        "d.purpose, d.channel ORDER BY count(DISTINCT d.disclosure_id) DESC, d.recipient_id, "
        "d.purpose", params).mappings().all()
    purposes = uow.execute(
        "SELECT d.purpose, count(DISTINCT d.disclosure_id) AS disclosures, "  # noqa: S608 - fixed pieces; values bound
        "count(DISTINCT d.recipient_id) AS recipients, count(DISTINCT s.nip) AS subjects "
        "FROM disclosures d LEFT JOIN disclosure_subjects s USING (disclosure_id) "
        f"WHERE {clause} GROUP BY d.purpose ORDER BY 2 DESC, d.purpose", params).mappings().all()
    return {
        "title": "Pengungkapan data perorangan per penerima dan tujuan",
        "filters": {k: (v.isoformat() if hasattr(v, "isoformat") else v)
                    for k, v in query.items() if v is not None},
        "per_recipient": [{
            "recipient": {"kind": r["recipient_kind"], "id": r["recipient_id"],
                          "name": r["recipient_name"]},
            "purpose": r["purpose"], "channel": r["channel"], "disclosures": r["disclosures"],
            "subjects": r["subjects"], "first_at": r["first_at"].isoformat(),
            "last_at": r["last_at"].isoformat()} for r in rows],
        "per_purpose": [dict(r) for r in purposes],
        "total_disclosures": sum(r["disclosures"] for r in rows),
        "generated_at": datetime.now(WIB).isoformat()}
