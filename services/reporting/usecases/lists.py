"""The lists and statistics BKD works from (issue 15 part 4), each registered in the one
registry of reports (usecases/reports.py) so that pages, exports and charts read it alike:

- `headcount`: employees counted by one dimension or a cross of two;
- `duk`: the Daftar Urut Kepangkatan in the order of reporting-lists.json (PP 15/1979);
- `nominatif`: the daftar nominatif, OPD by OPD;
- `retirement_forecast` / `retirement_list`: who reaches BUP in the next years;
- `kp_due` / `kgb_due`: who is due a kenaikan pangkat at a period, a KGB in a month.

Every one reads either the live rows (`employees`) or, given `as_of`, each employee's row as
it stood then (`employee_versions`: the highest version recorded by that moment), within what
the caller may see (domain.scope_for). Values are bound parameters; SQL text is assembled from
fixed pieces only."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from itertools import islice

from services.reporting import domain
from services.reporting.charts import ChartSpec
from services.reporting.usecases import reports, search
from services.reporting.usecases.reports import Column
from shared.auth import Principal
from shared.calendar import today_wib
from shared.career import add_years, next_kp_period
from shared.contracts import reporting as c
from shared.errors import ConfigError
from shared.reference import domain_data, opds, reporting_lists

WIB = c.WIB
_LIVE = "{schema}.employees"
#: each employee's row as it stood at %(as_of)s: its highest version recorded by then
_AS_OF = ("(SELECT DISTINCT ON (nip) * FROM {schema}.employee_versions "
          "WHERE valid_from <= %(as_of)s ORDER BY nip, stream_version DESC)")


def _day_of(params: dict, today: date | None) -> date:
    """The day a list is about: the as-of moment's day (WIB), else today."""
    if params.get("as_of") is not None:
        return params["as_of"].astimezone(WIB).date()
    return today or today_wib()


def _where(actor: Principal, params: dict, day: date, binds: dict,
           statuses=None) -> list[str]:
    """The caller's scope and the common filters, in psycopg2's placeholders."""
    scope = reports.scope_of(actor)
    named: dict = {}
    clauses = search.scope_clause(scope, named) + search.filters(params, day, named)
    if not params.get("status"):  # a status asked for is in the filters, the retired too
        if statuses:
            named["statuses"] = list(statuses)
            clauses.append("status = ANY(CAST(:statuses AS text[]))")
        else:
            clauses.append("status IS DISTINCT FROM 'Pensiun'")
    binds.update(named)
    return [reports.psycopg2_placeholders(w) for w in clauses]


def _source(params: dict, binds: dict) -> str:
    if params.get("as_of") is not None:
        binds["as_of"] = params["as_of"]
        return _AS_OF
    return _LIVE


def _select(columns: str, params: dict, binds: dict, where: list[str], order: str,
            group: str | None = None) -> str:
    return (f"SELECT {columns} FROM {_source(params, binds)} e "  # noqa: S608 - fixed pieces only
            f"{'WHERE ' + ' AND '.join(where) if where else ''} "
            f"{'GROUP BY ' + group if group else ''} ORDER BY {order}")


def _fetch(uow, sql: str, binds: dict) -> list[tuple]:
    with uow.dbapi.cursor() as cur:
        cur.execute(sql.format(schema=uow.store.schema), binds)
        return cur.fetchall()


def _text(value):
    return value.isoformat() if isinstance(value, date) else value


def full_name(gelar_depan, name, gelar_belakang) -> str | None:
    if name is None:
        return None
    front = f"{gelar_depan} " if gelar_depan else ""
    back = f", {gelar_belakang}" if gelar_belakang else ""
    return f"{front}{name}{back}"


def masa_kerja(since: date | None, day: date) -> str | None:
    """'12 th 3 bl': whole years and months from `since` to `day`."""
    if since is None or since > day:
        return None
    months = (day.year - since.year) * 12 + day.month - since.month - (day.day < since.day)
    return f"{months // 12} th {months % 12} bl"


def _pangkat() -> dict[str, str]:
    return {g["gol_ruang"]: g["pangkat"] for g in domain_data()["golongan_pns"]}


def _education() -> dict[str, str]:
    return domain.education_levels()


# -- headcount ---------------------------------------------------------------------------------

_DIM_TITLES = {"instansi": "Instansi", "opd_id": "OPD", "golongan": "Golongan",
               "jenis_jabatan": "Jenis jabatan", "education_id": "Pendidikan",
               "gender": "Jenis kelamin", "age_band": "Kelompok usia", "status": "Status"}


def dimension_sql(name: str, day: date, binds: dict) -> str:
    """The SQL expression of a dimension's value (an age band from the birth date on `day`)."""
    if name != "age_band":
        return name
    cases = []
    for n, (band, (youngest, oldest)) in enumerate(domain.AGE_BANDS.items()):
        earliest, latest = domain.birth_dates_for_ages(youngest, oldest, day)
        tests = []
        if latest is not None:
            binds[f"band_latest_{n}"] = latest
            tests.append(f"date_of_birth <= %(band_latest_{n})s")
        if earliest is not None:
            binds[f"band_earliest_{n}"] = earliest
            tests.append(f"date_of_birth > %(band_earliest_{n})s")
        binds[f"band_{n}"] = band
        cases.append(f"WHEN {' AND '.join(tests)} THEN %(band_{n})s")
    return f"(CASE {' '.join(cases)} END)"


def dimension_order(name: str):
    """How a dimension's values are ordered: golongan by rank, age bands youngest first,
    others by their code; the unknown (None) last."""
    if name == "golongan":
        ranks = domain.golongan_ranks()
        return lambda v: (v is None, ranks.get(v, 99))
    if name == "age_band":
        bands = list(domain.AGE_BANDS)
        return lambda v: (v is None, bands.index(v) if v in bands else 99)
    return lambda v: (v is None, str(v))


def headcount_columns(params: dict) -> list[Column]:
    dims = [params.get("by", "opd_id")] + ([params["by2"]] if params.get("by2") else [])
    return [Column(d, _DIM_TITLES[d]) for d in dims] + [Column("count", "Jumlah", "int")]


def headcount_rows(uow, actor: Principal, params: dict, today: date | None = None):
    """(value[, value2], count) for each combination present, in the dimensions' order."""
    day = _day_of(params, today)
    binds: dict = {}
    where = _where(actor, params, day, binds)
    dims = [params.get("by", "opd_id")] + ([params["by2"]] if params.get("by2") else [])
    exprs = [dimension_sql(d, day, binds) for d in dims]
    groups = ", ".join(str(n + 1) for n in range(len(dims)))
    sql = _select(", ".join(exprs) + ", count(*)", params, binds, where, groups, groups)
    orders = [dimension_order(d) for d in dims]
    rows = _fetch(uow, sql, binds)
    yield from sorted(rows, key=lambda r: tuple(o(v) for o, v in zip(orders, r, strict=False)))


# -- Daftar Urut Kepangkatan -------------------------------------------------------------------

#: each DUK criterion (PP 15/1979) -> the columns that decide it; which data stands for each is
#: in docs/design/reporting.md, the order of the criteria in reporting-lists.json
DUK_CRITERIA = {
    "pangkat": ("golongan_rank DESC NULLS LAST", "tmt_golongan ASC NULLS LAST"),
    "jabatan": ("eselon_rank DESC NULLS LAST", "tmt_jabatan ASC NULLS LAST"),
    "masa_kerja": ("tmt_cpns ASC NULLS LAST",),
    "latihan_jabatan": ("diklat_level DESC NULLS LAST",),
    "pendidikan": ("education_rank DESC NULLS LAST",),
    "usia": ("date_of_birth ASC NULLS LAST",),
}


def duk_order() -> str:
    """The DUK's ORDER BY from the configured criteria, the NIP last (a stable tiebreak)."""
    config = reporting_lists()["duk"]
    unknown = [k for k in config["criteria"] if k not in DUK_CRITERIA]
    if unknown:
        raise ConfigError(f"reporting-lists.json duk.criteria: unknown {unknown}; known: "
                          f"{', '.join(DUK_CRITERIA)}", field="duk.criteria")
    return ", ".join([p for k in config["criteria"] for p in DUK_CRITERIA[k]] + ["nip ASC"])


_DUK_SQL = ("nip, gelar_depan, name, gelar_belakang, golongan, tmt_golongan, jabatan, eselon, "
            "tmt_jabatan, tmt_cpns, diklat_level, education_rank, date_of_birth, opd_id, "
            "opd_name")


def duk_columns(params: dict) -> list[Column]:
    return [Column("no", "No", "int"), Column("nip", "NIP"), Column("name", "Nama"),
            Column("pangkat", "Pangkat"), Column("golongan", "Gol/ruang"),
            Column("tmt_golongan", "TMT golongan", "date"), Column("jabatan", "Jabatan"),
            Column("eselon", "Eselon"), Column("tmt_jabatan", "TMT jabatan", "date"),
            Column("masa_kerja", "Masa kerja"), Column("latihan_jabatan", "Latihan jabatan",
                                                       "int"),
            Column("pendidikan", "Pendidikan"), Column("date_of_birth", "Tanggal lahir", "date"),
            Column("unit", "OPD/unit")]


def duk_rows(uow, actor: Principal, params: dict, today: date | None = None,
             page: tuple[int, int] | None = None):
    """The DUK of what the caller sees (PNS and CPNS by default), numbered in its order."""
    day = _day_of(params, today)
    binds: dict = {}
    where = _where(actor, params, day, binds, reporting_lists()["duk"]["statuses"])
    sql = _select(_DUK_SQL, params, binds, where, duk_order())
    rows, first = _page(uow, sql, binds, page)
    pangkat, education = _pangkat(), _education()
    for n, r in enumerate(rows, start=first):
        (nip, front, name, back, golongan, tmt_gol, jabatan, eselon, tmt_jab, tmt_cpns,
         diklat, edu_rank, born, opd_id, opd_name) = r
        yield (n, nip, full_name(front, name, back), pangkat.get(golongan), golongan,
               _text(tmt_gol), jabatan, eselon, _text(tmt_jab), masa_kerja(tmt_cpns, day),
               diklat, education.get(f"{edu_rank:02d}") if edu_rank else None, _text(born),
               opd_name or opds().get(opd_id) or opd_id)


# -- daftar nominatif --------------------------------------------------------------------------

_NOMINATIF_SQL = ("nip, gelar_depan, name, gelar_belakang, gender, date_of_birth, status, "
                  "golongan, tmt_golongan, jabatan, jenis_jabatan, eselon, tmt_jabatan, "
                  "tmt_cpns, education_id, unit, opd_id, opd_name, instansi")
NOMINATIF_ORDER = "instansi, opd_id, golongan_rank DESC NULLS LAST, tmt_golongan, nip"


def nominatif_columns(params: dict) -> list[Column]:
    return [Column("no", "No", "int"), Column("nip", "NIP"), Column("name", "Nama"),
            Column("gender", "L/P"), Column("date_of_birth", "Tanggal lahir", "date"),
            Column("status", "Status"), Column("pangkat", "Pangkat"),
            Column("golongan", "Gol/ruang"), Column("tmt_golongan", "TMT golongan", "date"),
            Column("jabatan", "Jabatan"), Column("jenis_jabatan", "Jenis jabatan"),
            Column("eselon", "Eselon"), Column("tmt_jabatan", "TMT jabatan", "date"),
            Column("tmt_cpns", "TMT CPNS", "date"), Column("pendidikan", "Pendidikan"),
            Column("unit", "Unit kerja"), Column("opd", "OPD"), Column("instansi", "Instansi")]


def nominatif_rows(uow, actor: Principal, params: dict, today: date | None = None,
                   page: tuple[int, int] | None = None):
    """Every employee the caller sees, OPD by OPD, the higher golongan first."""
    day = _day_of(params, today)
    binds: dict = {}
    where = _where(actor, params, day, binds)
    sql = _select(_NOMINATIF_SQL, params, binds, where, NOMINATIF_ORDER)
    rows, first = _page(uow, sql, binds, page)
    pangkat, education = _pangkat(), _education()
    for n, r in enumerate(rows, start=first):
        (nip, front, name, back, gender, born, status, golongan, tmt_gol, jabatan, jenis,
         eselon, tmt_jab, tmt_cpns, education_id, unit, opd_id, opd_name, instansi) = r
        yield (n, nip, full_name(front, name, back), gender, _text(born), status,
               pangkat.get(golongan), golongan, _text(tmt_gol), jabatan, jenis, eselon,
               _text(tmt_jab), _text(tmt_cpns), education.get(education_id), unit,
               opd_name or opds().get(opd_id) or opd_id, instansi)


# -- retirement forecast -----------------------------------------------------------------------

def horizon(params: dict, day: date) -> tuple[date, date]:
    """[day, 1 January of the year `years` on): the window a forecast covers."""
    years = params.get("years") or reporting_lists()["retirement"]["years_ahead"]
    return day, date(day.year + years, 1, 1)


def retirement_forecast_columns(params: dict) -> list[Column]:
    group = params.get("group", "opd_id")
    return [Column("year", "Tahun", "int"),
            Column(group, {"opd_id": "OPD", "instansi": "Instansi", "jabatan": "Jabatan",
                           "jenis_jabatan": "Jenis jabatan"}[group]),
            Column("count", "Jumlah pensiun", "int")]


def retirement_forecast_rows(uow, actor: Principal, params: dict, today: date | None = None):
    """(year, group, count) of the employees whose TMT pensiun (BUP) falls in the window."""
    day = _day_of(params, today)
    binds: dict = {}
    where = _where(actor, params, day, binds, reporting_lists()["retirement"]["statuses"])
    binds["from"], binds["until"] = horizon(params, day)
    where.append("tmt_bup >= %(from)s AND tmt_bup < %(until)s")
    group = params.get("group", "opd_id")
    sql = _select(f"extract(year FROM tmt_bup)::int, {group}, count(*)", params, binds, where,
                  "1, 2 NULLS LAST", "1, 2")
    yield from _fetch(uow, sql, binds)


def retirement_list_columns(params: dict) -> list[Column]:
    return [Column("nip", "NIP"), Column("name", "Nama"), Column("opd", "OPD/unit"),
            Column("jabatan", "Jabatan"), Column("golongan", "Gol/ruang"),
            Column("date_of_birth", "Tanggal lahir", "date"), Column("bup_age", "BUP", "int"),
            Column("tmt_bup", "TMT pensiun", "date")]


def retirement_list_rows(uow, actor: Principal, params: dict, today: date | None = None,
                         page: tuple[int, int] | None = None):
    day = _day_of(params, today)
    binds: dict = {}
    where = _where(actor, params, day, binds, reporting_lists()["retirement"]["statuses"])
    binds["from"], binds["until"] = horizon(params, day)
    where.append("tmt_bup >= %(from)s AND tmt_bup < %(until)s")
    sql = _select("nip, gelar_depan, name, gelar_belakang, opd_id, opd_name, jabatan, "
                  "golongan, date_of_birth, bup_age, tmt_bup", params, binds, where,
                  "tmt_bup, nip")
    yield from _rows(uow, sql, binds, page, lambda r: (
        r[0], full_name(r[1], r[2], r[3]), r[5] or opds().get(r[4]) or r[4], r[6], r[7],
        _text(r[8]), r[9], _text(r[10])))


def _page(uow, sql: str, binds: dict, page: tuple[int, int] | None):
    """(rows, number of the first): one page (offset, limit) read at once, or every row
    streamed from a server-side cursor."""
    if page is None:
        return reports.stream(uow, sql, binds), 1
    binds.update(limit=page[1], offset=page[0])
    return _fetch(uow, sql + " LIMIT %(limit)s OFFSET %(offset)s", binds), page[0] + 1


def _rows(uow, sql, binds, page, shape) -> Iterator[tuple]:
    for r in _page(uow, sql, binds, page)[0]:
        yield shape(r)


# -- KP and KGB due ----------------------------------------------------------------------------

def kp_period(params: dict, day: date) -> date:
    return params.get("period") or next_kp_period(day)


def kp_due_columns(params: dict) -> list[Column]:
    return [Column("nip", "NIP"), Column("name", "Nama"), Column("opd", "OPD/unit"),
            Column("golongan", "Gol/ruang"), Column("tmt_golongan", "TMT golongan", "date"),
            Column("next_golongan", "Gol/ruang berikutnya"),
            Column("due_from", "Memenuhi masa kerja sejak periode", "date"),
            Column("pendidikan", "Pendidikan")]


def kp_due_rows(uow, actor: Principal, params: dict, today: date | None = None,
                page: tuple[int, int] | None = None):
    """Who has served the minimum years in their pangkat by the period (kenaikan pangkat
    reguler, Peraturan BKN 4/2023), below the highest golongan, not retired by then."""
    day = _day_of(params, today)
    config = reporting_lists()["kp"]
    binds: dict = {"period": kp_period(params, day), "years": config["min_years_in_rank"],
                   "top": max(domain.golongan_ranks().values())}
    where = _where(actor, params, day, binds, config["statuses"])
    where += ["tmt_golongan + make_interval(years => %(years)s) <= %(period)s",
              "golongan_rank < %(top)s", "(tmt_bup IS NULL OR tmt_bup > %(period)s)"]
    sql = _select("nip, gelar_depan, name, gelar_belakang, opd_id, opd_name, golongan, "
                  "tmt_golongan, education_rank", params, binds, where,
                  "golongan_rank DESC, tmt_golongan, nip")
    ranks = domain.golongan_ranks()
    by_rank = {v: k for k, v in ranks.items()}
    education = _education()
    yield from _rows(uow, sql, binds, page, lambda r: (
        r[0], full_name(r[1], r[2], r[3]), r[5] or opds().get(r[4]) or r[4], r[6],
        _text(r[7]), by_rank.get(ranks.get(r[6], 0) + 1),
        next_kp_period(add_years(r[7], config["min_years_in_rank"])).isoformat(),
        education.get(f"{r[8]:02d}") if r[8] else None))


def kgb_month(params: dict, day: date) -> tuple[date, date]:
    start = (date.fromisoformat(params["period"] + "-01") if params.get("period")
             else day.replace(day=1))
    following = (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return start, following


def kgb_due_columns(params: dict) -> list[Column]:
    return [Column("nip", "NIP"), Column("name", "Nama"), Column("opd", "OPD/unit"),
            Column("golongan", "Gol/ruang"), Column("last_kgb_tmt", "TMT KGB terakhir", "date"),
            Column("tmt_golongan", "TMT golongan", "date"),
            Column("due", "TMT KGB berikutnya", "date")]


def kgb_due_rows(uow, actor: Principal, params: dict, today: date | None = None,
                 page: tuple[int, int] | None = None):
    """Whose next KGB (every `years` from the last KGB, else from the pangkat TMT) falls in
    the month."""
    day = _day_of(params, today)
    config = reporting_lists()["kgb"]
    due = "(greatest(last_kgb_tmt, tmt_golongan) + make_interval(years => %(years)s))::date"
    binds: dict = {"years": config["years"]}
    binds["month_start"], binds["month_end"] = kgb_month(params, day)
    where = _where(actor, params, day, binds, config["statuses"])
    where.append(f"{due} >= %(month_start)s AND {due} < %(month_end)s")
    sql = _select(f"nip, gelar_depan, name, gelar_belakang, opd_id, opd_name, golongan, "
                  f"last_kgb_tmt, tmt_golongan, {due}", params, binds, where, f"{due}, nip")
    yield from _rows(uow, sql, binds, page, lambda r: (
        r[0], full_name(r[1], r[2], r[3]), r[5] or opds().get(r[4]) or r[4], r[6],
        _text(r[7]), _text(r[8]), _text(r[9])))


# -- one answer for the API --------------------------------------------------------------------

def answer(uow, actor: Principal, name: str, params: dict, today: date | None = None,
           holidays: frozenset = frozenset()) -> dict:
    """A report as JSON: a statistic whole, a list of persons one page at a time."""
    report = reports.REPORTS[name]
    columns = report.columns(params)
    keys = [col.key for col in columns]
    page = limit = None
    if "page" in params:  # a list of persons: one page (and whether another follows)
        page, limit = params["page"], params["limit"]
        rows = list(reports.read(report, uow, actor, params, today, holidays,
                                 page=((page - 1) * limit, limit + 1)))
    elif "limit" in params:  # a list paged by offset (the employee list)
        limit, streamed = params["limit"], reports.read(report, uow, actor, params, today)
        rows = list(islice(streamed, params.get("offset", 0),
                           params.get("offset", 0) + limit + 1))
        streamed.close()  # its server-side cursor, while the transaction is still open
    else:  # a statistic: whole
        rows = list(reports.read(report, uow, actor, params, today, holidays))
    has_more = limit is not None and len(rows) > limit
    rows = rows[:limit] if limit is not None else rows
    as_of: datetime | None = params.get("as_of")
    return {"name": report.name, "title": report.title, "personal": report.personal,
            "official": report.official,
            "columns": [{"key": col.key, "title": col.title, "kind": col.kind}
                        for col in columns],
            "items": [dict(zip(keys, (_text(v) for v in row), strict=True)) for row in rows],
            "page": page, "limit": limit, "has_more": has_more,
            "as_of": as_of.isoformat() if as_of else None}


for _report in (
    reports.Report("headcount", "Jumlah pegawai", personal=False, official=False,
                   params=c.HeadcountQuery, columns=headcount_columns, rows=headcount_rows,
                   chart=lambda p: ChartSpec((p["by"],), ("count",), p.get("by2"))),
    reports.Report("duk", "Daftar Urut Kepangkatan", personal=True, official=True,
                   params=c.DukQuery, columns=duk_columns, rows=duk_rows),
    reports.Report("nominatif", "Daftar nominatif pegawai", personal=True, official=True,
                   params=c.NominatifQuery, columns=nominatif_columns, rows=nominatif_rows),
    reports.Report("retirement_forecast", "Proyeksi pensiun (BUP)", personal=False,
                   official=False, params=c.RetirementForecastQuery,
                   columns=retirement_forecast_columns, rows=retirement_forecast_rows,
                   chart=lambda p: ChartSpec(("year",), ("count",))),  # all groups, per year
    reports.Report("retirement_list", "Daftar pegawai yang akan pensiun (BUP)", personal=True,
                   official=False, params=c.RetirementListQuery,
                   columns=retirement_list_columns, rows=retirement_list_rows),
    reports.Report("kp_due", "Daftar pegawai memenuhi masa kenaikan pangkat", personal=True,
                   official=False, params=c.KpDueQuery, columns=kp_due_columns,
                   rows=kp_due_rows),
    reports.Report("kgb_due", "Daftar pegawai jatuh tempo KGB", personal=True, official=False,
                   params=c.KgbDueQuery, columns=kgb_due_columns, rows=kgb_due_rows),
):
    reports.register(_report)
