"""The agency web services' reads (issue 17 part 1): employees as a machine client's agreement
releases them, and the disclosure each answer is, recorded in the same transaction as the read
(usecases/disclosures.py) - the answer and its record commit together or not at all.

The gateway checked the agreement (scope, purpose, fields, population, rate, quota:
services/gateway/usecases/agency.py) and hands the cut as a grant (shared/contracts/agency.py
AgencyGrant); records checks again that the grant is the caller's own and reads only the
grant's population, and only its fields leave."""

from __future__ import annotations

from services.records.usecases import disclosures
from shared.auth import Principal
from shared.errors import Forbidden, NotFound

_POPULATION = ("instansi = ANY(:instansi) AND (cardinality(CAST(:opds AS text[])) = 0 "
               "OR opd_id = ANY(:opds))")


def _checked(actor: Principal, grant: dict) -> None:
    if "machine" not in actor.roles or actor.account_id != grant["client_id"]:
        raise Forbidden("hanya klien mesin dengan perjanjian yang berlaku", field="role")


def _cut(record: dict, wanted: list[str]) -> dict:
    return {"nip": record["nip"], **{f: record.get(f) for f in wanted if f != "nip"}}


def _disclose(uow, grant: dict, nips: list[str], reference: str) -> str | None:
    if not nips:
        return None  # nothing about anyone left
    recorded = disclosures.record(uow, {
        "channel": "agency_api",
        "recipient": {"kind": grant["client_kind"], "id": grant["client_id"],
                      "name": grant.get("name")},
        "basis": {"kind": grant["agreement_kind"], "reference": grant["agreement_number"]},
        "purpose": grant["purpose"], "fields": sorted({"nip", *grant["fields"]}),
        "nips": nips, "reference": reference}, grant["client_id"])
    return recorded["disclosure_id"]


def employees(uow, actor: Principal, grant: dict, query: dict) -> dict:
    """One page of the agreement's population (optionally one instansi, one OPD, a name's
    beginning), ordered by NIP; the page is one disclosure."""
    _checked(actor, grant)
    where, params = [_POPULATION], {"instansi": grant["instansi"], "opds": grant["opds"],
                                    "limit": query["limit"] + 1, "offset": query["offset"]}
    if query.get("instansi"):
        where.append("instansi = :one_instansi")
        params["one_instansi"] = query["instansi"]
    if query.get("opd_id"):
        where.append("opd_id = :opd")
        params["opd"] = query["opd_id"]
    if query.get("name"):
        where.append("lower(name) LIKE :name ESCAPE '\\'")
        escaped = query["name"].lower().replace("\\", "\\\\").replace("%", "\\%")
        params["name"] = escaped.replace("_", "\\_") + "%"
    rows = uow.execute(
        "SELECT record FROM employees WHERE " + " AND ".join(where)  # noqa: S608 - fixed pieces; values bound
        + " ORDER BY nip LIMIT :limit OFFSET :offset", params).scalars().all()
    items = [_cut(r, grant["fields"]) for r in rows[:query["limit"]]]
    shown = {k: v for k, v in query.items() if k in ("instansi", "opd_id", "name") and v}
    reference = "GET /api/agency/employees" + "".join(f" {k}={v}" for k, v in sorted(
        shown.items())) + f" offset={query['offset']}"
    return {"items": items, "limit": query["limit"], "offset": query["offset"],
            "has_more": len(rows) > query["limit"],
            "disclosure_id": _disclose(uow, grant, [i["nip"] for i in items], reference)}


def employee(uow, actor: Principal, grant: dict, nip: str) -> dict:
    """One employee of the agreement's population; outside it, absent (no probing)."""
    _checked(actor, grant)
    record = uow.execute(
        "SELECT record FROM employees WHERE nip = :nip AND " + _POPULATION,  # noqa: S608 - fixed pieces; values bound
        {"nip": nip, "instansi": grant["instansi"], "opds": grant["opds"]}).scalar()
    if record is None:
        raise NotFound(f"pegawai {nip[:18]} tidak ditemukan", field="nip")
    _disclose(uow, grant, [nip], f"GET /api/agency/employees/{nip}")
    return _cut(record, grant["fields"])
