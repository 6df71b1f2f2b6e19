"""What records shows the sync service of a region's employees for the yearly reconciliation
(issue 14 part 4): an instansi's employees by NIP, keyset-paged, with the fields a region's
snapshot is compared on (`region_roster`), and which instansi holds each of some NIPs
(`locate_nips`). System callers only: these read every employee of an instansi, confidential
fields aside, with no person's scope behind the call."""

from __future__ import annotations

from shared.contracts.records import ROSTER_FIELDS
from shared.errors import Forbidden

_SELECT = ", ".join(f"record->>'{name}'" for name in ROSTER_FIELDS)


def _system_only(caller) -> None:
    if not caller.has("system"):
        raise Forbidden("hanya untuk layanan sinkronisasi", field="caller")


def page(uow, caller, query: dict) -> dict:
    """Up to `limit` employees of `instansi` with a NIP after `after_nip`, in NIP order."""
    _system_only(caller)
    rows = uow.execute(
        f"SELECT nip, {_SELECT} FROM employees WHERE instansi = :i "  # noqa: S608 - ROSTER_FIELDS are constants
        "AND nip > :after ORDER BY nip LIMIT :n",
        {"i": query["instansi"], "after": query["after_nip"] or "", "n": query["limit"]}).all()
    return {"columns": list(ROSTER_FIELDS), "rows": [list(row) for row in rows],
            "next_after": rows[-1][0] if len(rows) == query["limit"] else None}


def locate(uow, caller, nips: list[str]) -> dict[str, str]:
    """NIP -> the instansi that holds it, for those of `nips` records has."""
    _system_only(caller)
    return dict(uow.execute("SELECT nip, instansi FROM employees WHERE nip = ANY(:n)",
                            {"n": list(nips)}).all())
