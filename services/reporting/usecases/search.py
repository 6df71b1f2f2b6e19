"""Finding employees in the read model: filters combined with AND, one page in a whitelisted
order, within what the caller may see (domain.scope_for). Every value is a bound parameter;
the SQL text is assembled from fixed pieces only."""

from __future__ import annotations

from datetime import date

from services.reporting import domain
from services.reporting.usecases import reports
from shared.auth import Principal
from shared.calendar import today_wib
from shared.contracts.reporting import EmployeeListItem, EmployeeSearch
from shared.errors import Forbidden

#: sort key -> the expression it orders by (the NIP breaks ties, so pages never overlap); names
#: in byte order of their lower case, the same on every server whatever its locale
ORDER = {"nip": "nip", "name": "lower(name) COLLATE \"C\"", "golongan": "golongan_rank",
         "date_of_birth": "date_of_birth", "tmt_cpns": "tmt_cpns",
         "tmt_golongan": "tmt_golongan", "opd_id": "opd_id"}
_FIELDS = ("nip", "name", "gelar_depan", "gelar_belakang", "instansi", "opd_id", "opd_name",
           "unit", "status", "gender", "date_of_birth", "education_id", "golongan",
           "tmt_golongan", "jabatan", "jenis_jabatan", "eselon", "tmt_cpns", "tmt_pns",
           "tmt_pensiun")
_ITEM = EmployeeListItem()
#: what a list item holds: every value is a text, an integer (age) or null once dates are text
_ITEM_KEYS = tuple(_ITEM.fields)
SUBSCRIPTION = "reporting.employees"


def _like(text: str) -> str:
    """A substring pattern for ILIKE, with the caller's own % and _ taken literally."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def scope_clause(scope: domain.Scope, params: dict) -> list[str]:
    if scope.everyone:
        return []
    if scope.instansi is not None:
        params["scope_instansi"] = scope.instansi
        return ["instansi = :scope_instansi"]
    # a fasilitator's OPDs are the province's: never a kab/kota unit, whatever it is called
    params["scope_opds"] = list(scope.opds)
    return ["instansi = '35'", "opd_id = ANY(CAST(:scope_opds AS text[]))"]


def filters(query: dict, today: date, params: dict) -> list[str]:
    where = []
    nip = query.get("nip")
    if nip and len(nip) == 18:
        where.append("nip = :nip")
        params["nip"] = nip
    elif nip:  # a prefix: a range on the primary key
        params["nip_low"], params["nip_high"] = nip.ljust(18, "0"), nip.ljust(18, "9")
        where.append("nip BETWEEN :nip_low AND :nip_high")
    for name in ("name", "unit", "jabatan"):
        if query.get(name):
            where.append(f"{name} ILIKE :{name}")
            params[name] = _like(query[name])
    for name in ("instansi", "opd_id", "golongan", "jenis_jabatan", "status", "gender",
                 "education_id"):
        if query.get(name):
            where.append(f"{name} = :{name}")
            params[name] = query[name]
    youngest, oldest = query.get("age_min"), query.get("age_max")
    if query.get("age_band"):
        youngest, oldest = domain.AGE_BANDS[query["age_band"]]
    if youngest is not None or oldest is not None:
        earliest, latest = domain.birth_dates_for_ages(youngest, oldest, today)
        if latest is not None:
            where.append("date_of_birth <= :born_latest")
            params["born_latest"] = latest
        if earliest is not None:
            where.append("date_of_birth > :born_earliest")
            params["born_earliest"] = earliest
    return where


def _item(row: dict, today: date) -> dict:
    """The row as EmployeeListItem dumps it, built directly: a page is dumped once, not twice
    (marshmallow's dump of the page and its items was half the service's time per search)."""
    out = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in row.items()}
    born = row.get("date_of_birth")
    out["age"] = domain.age_on(born, today) if born else None
    return {k: out[k] for k in _ITEM_KEYS if k in out}


def find(uow, actor: Principal, query: dict, today: date | None = None) -> dict:
    """One page of the employees `actor` may see that match `query` (shared/contracts/
    reporting.py EmployeeSearch, already validated), with the records log position the list
    reflects."""
    scope = domain.scope_for(actor.account_id, actor.roles, actor.opd_scope)
    if scope is None:
        raise Forbidden("daftar pegawai hanya untuk fasilitator, BKD, auditor dan instansi "
                        "kabupaten/kota", field="role")
    today = today or today_wib()
    params: dict = {"limit": query["limit"] + 1, "offset": query["offset"]}
    where = scope_clause(scope, params) + filters(query, today, params)
    key = query["sort"].removeprefix("-")
    direction = "DESC" if query["sort"].startswith("-") else "ASC"
    # PostgreSQL's own null order (a missing value counts as the highest), so that an index
    # serves a descending order too, read backwards
    order = f"{ORDER[key]} {direction}" + (f", nip {direction}" if key != "nip" else "")
    # the page's NIPs first, then their rows: the inner query names only indexed columns
    # where it can (scope, name, NIP and the sort key: employees_name_cover, migration 005),
    # so walking an index in the page's order skips the rows that do not match without
    # reading them from the table (an index-only scan); then one lookup per row of the page
    rows = uow.execute(
        f"SELECT {', '.join(_FIELDS)} FROM employees JOIN ("  # noqa: S608 - fixed pieces only; every value is a bound parameter
        f"SELECT nip FROM employees {'WHERE ' + ' AND '.join(where) if where else ''} "
        f"ORDER BY {order} LIMIT :limit OFFSET :offset) page USING (nip) "
        f"ORDER BY {order}", params).mappings().all()
    position = uow.execute("SELECT coalesce(max(position), 0) FROM subscriptions "
                           "WHERE name = :n AND source = 'records'",
                           {"n": SUBSCRIPTION}).scalar()
    return {"items": [_item(dict(r), today) for r in rows[:query["limit"]]],
            "limit": query["limit"], "offset": query["offset"], "sort": query["sort"],
            "has_more": len(rows) > query["limit"], "position": position}


# -- the whole list, for an export (usecases/reports.py) ---------------------------------------

_TITLES = {"nip": "NIP", "name": "Nama", "gelar_depan": "Gelar depan",
           "gelar_belakang": "Gelar belakang", "instansi": "Instansi", "opd_id": "Kode OPD",
           "opd_name": "OPD/unit", "unit": "Unit kerja", "status": "Status", "gender": "L/P",
           "date_of_birth": "Tanggal lahir", "education_id": "Pendidikan",
           "golongan": "Golongan", "tmt_golongan": "TMT golongan", "jabatan": "Jabatan",
           "jenis_jabatan": "Jenis jabatan", "eselon": "Eselon", "tmt_cpns": "TMT CPNS",
           "tmt_pns": "TMT PNS", "tmt_pensiun": "TMT pensiun"}
_DATE_FIELDS = {"date_of_birth", "tmt_golongan", "tmt_cpns", "tmt_pns", "tmt_pensiun"}


def list_columns(query: dict) -> list[reports.Column]:
    return [reports.Column(f, _TITLES[f], "date" if f in _DATE_FIELDS else "text")
            for f in _FIELDS]


def list_rows(uow, actor: Principal, query: dict, today: date | None = None):
    """Every employee `actor` may see that matches `query`, in its order, streamed (the
    filters and order of `find`, without the page)."""
    scope = reports.scope_of(actor)
    params: dict = {}
    where = scope_clause(scope, params) + filters(query, today or today_wib(), params)
    key = query["sort"].removeprefix("-")
    direction = "DESC" if query["sort"].startswith("-") else "ASC"
    order = f"{ORDER[key]} {direction}" + (f", nip {direction}" if key != "nip" else "")
    sql = (f"SELECT {', '.join(_FIELDS)} FROM {{schema}}.employees "  # noqa: S608 - fixed pieces only
           f"{'WHERE ' + ' AND '.join(where) if where else ''} ORDER BY {order}")
    yield from reports.stream(uow, reports.psycopg2_placeholders(sql), params)


reports.register(reports.Report(
    name="employees", title="Daftar pegawai", personal=True, official=False,
    params=EmployeeSearch, columns=list_columns, rows=list_rows))
