"""The agency web services' checks at the gateway (issue 17 parts 1 and 4, docs/design/
sharing.md): before records is asked anything, a machine client's request is held against its
agreement, as identity answered it with the principal (`agreement`; a suspended or expired one
never gets this far: identity refuses it, and a suspension fences cached principals):

1. the route's scope (`scope_missing`, checked by the endpoint's `scope=` for every route a
machine client may call: services/gateway/http.py), 2. the purpose named in the request is one
the agreement lists (`purpose_not_allowed`), 3. every field asked for is one it allows,
confidential ones only when named as such (`field_not_allowed`), 4. an instansi or OPD asked
for is within its population (`population_not_allowed`), 5. its rate per minute
(`rate_limited`, 429 with Retry-After), 6. its quota per day (`quota_exceeded`, 429 with Retry-
After until midnight WIB).

Each refusal is a problem+json with its code and the `field` it concerns. What passes is the
grant records reads with (shared/contracts/agency.py AgencyGrant)."""

from __future__ import annotations

from datetime import datetime, timedelta

from services.gateway.exceptions import TooManyRequests
from services.gateway.usecases import limits
from shared.calendar import WIB
from shared.contracts.agency import AGENCY_FIELDS, CONFIDENTIAL_AGENCY_FIELDS
from shared.errors import Forbidden, ValidationFailed


class QuotaExceeded(TooManyRequests):
    code = "quota_exceeded"
    title = "Kuota harian klien telah habis"


def _refuse(code: str, message: str, field: str):
    raise Forbidden(message, field=field, code=code)


def grant_for(principal: dict, query: dict) -> dict:
    """Steps 2-4 (the route's scope was checked by the endpoint, `scope=`): the grant of this
    request, or a refusal naming what the agreement lacks."""
    agreement = principal.get("agreement") or {}
    if not agreement.get("purposes"):
        _refuse("scope_missing", "perjanjian klien tidak memuat ketentuan berbagi data", "scope")
    purpose = query["purpose"]
    if purpose not in agreement["purposes"]:
        _refuse("purpose_not_allowed", f"tujuan '{purpose[:60]}' tidak disepakati dalam "
                f"perjanjian {agreement['agreement_number']}", "purpose")
    allowed = set(agreement["allowed_fields"]) | {"nip"}
    confidential = set(agreement["confidential_fields"])
    wanted = ([f.strip() for f in query["fields"].split(",") if f.strip()]
              if query.get("fields") else sorted(allowed))
    for name in wanted:
        if name not in AGENCY_FIELDS:
            raise ValidationFailed(f"kolom {name[:40]} tidak dikenal", field="fields")
        if name not in allowed or (name in CONFIDENTIAL_AGENCY_FIELDS
                                   and name not in confidential):
            _refuse("field_not_allowed", f"kolom {name} tidak diizinkan perjanjian "
                    f"{agreement['agreement_number']}", "fields")
    instansi, opds = list(agreement["population_instansi"]), list(agreement["population_opds"])
    if query.get("instansi") and query["instansi"] not in instansi:
        _refuse("population_not_allowed", "instansi ini di luar cakupan perjanjian", "instansi")
    if query.get("opd_id") and opds and query["opd_id"] not in opds:
        _refuse("population_not_allowed", "OPD ini di luar cakupan perjanjian", "opd_id")
    return {"client_id": principal["account_id"], "client_kind": agreement["client_kind"],
            "name": principal.get("display_name"),
            "agreement_kind": agreement["agreement_kind"],
            "agreement_number": agreement["agreement_number"], "purpose": purpose,
            "fields": sorted(set(wanted)), "instansi": instansi, "opds": opds}


def spend(db, limiter, principal: dict, now: datetime | None = None) -> None:
    """Steps 5-6: one request of the client's rate and of its day's quota, shared by every
    gateway replica (the gateway's database)."""
    agreement = principal["agreement"]
    client = principal["account_id"]
    per_minute = int(agreement["rate_per_minute"])
    allowed, wait = limiter.allow(db, f"agency|{client}", per_minute / 60.0, per_minute)
    if not allowed:
        seconds = max(1, round(wait))
        raise TooManyRequests(f"batas {per_minute} permintaan per menit; coba lagi dalam "
                              f"{seconds} detik", field="client_id",
                              details={"retry_after": seconds})
    now = (now or datetime.now(WIB)).astimezone(WIB)
    if limits.take_quota(db, client, now.date(), int(agreement["quota_per_day"])) is None:
        midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), WIB)
        raise QuotaExceeded(f"kuota {agreement['quota_per_day']} permintaan per hari telah "
                            "habis; tersedia lagi pukul 00.00 WIB", field="client_id",
                            details={"retry_after": max(1, int((midnight - now)
                                                               .total_seconds()))})
