"""Completeness of each employee's record (monev, issue 15 part 3).

- The `completeness` read model (subscription `reporting.completeness`, from records): which
  fields are filled and which slots hold a document, folded from the events a feed page at a
  time (monev.Presence), in the transaction that moves the subscription.
- Assessing: the employee list's row (status, dates: what decides the layanan they will need)
  joined with their presence, judged against the configured requirement (monev.assess) at
  the time of asking, since "retirement within 15 months" changes with the calendar.
- Reports (usecases/reports.py): the rollups per OPD / instansi / fasilitator, each employee's
  missing list, the daily trend; all streamed, all within the caller's scope."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import orjson
from psycopg2.extras import execute_values

from services.reporting import domain, monev
from services.reporting.charts import ChartSpec
from services.reporting.usecases import projection, reports
from services.reporting.usecases.search import scope_clause
from shared.auth import Principal
from shared.calendar import today_wib
from shared.contracts.monev import CompletenessListQuery, CompletenessRollupQuery, TrendQuery
from shared.errors import Forbidden, NotFound
from shared.reference import PROVINCE, document_slots, instansi, opds

#: how `simasn projections rebuild reporting.completeness` empties the read model
RESET = ("DELETE FROM completeness",)

_READ = ("SELECT nip, fields, slots, stream_version FROM completeness "
         "WHERE nip = ANY(CAST(:nips AS text[])) ORDER BY nip FOR UPDATE")
_WRITE = (
    "INSERT INTO {schema}.completeness (nip, fields, slots, stream_version, position) "
    "VALUES %s ON CONFLICT (nip) DO UPDATE SET fields = EXCLUDED.fields, "
    "slots = EXCLUDED.slots, stream_version = EXCLUDED.stream_version, "
    "position = GREATEST(completeness.position, EXCLUDED.position), updated_at = now()")
_TEMPLATE = "(%s, CAST(%s AS jsonb), CAST(%s AS jsonb), %s, %s)"


def presence_event(uow, event) -> None:
    presence_events(uow, [event])


def presence_events(uow, events) -> None:
    """Fold records events, in log order, into their employees' presence rows: one locked
    read (NIP order), the folds in memory, one write of the rows that changed."""
    by_nip = projection.by_employee(events)
    if not by_nip:
        return
    projection.lock_rows(uow, "completeness", list(by_nip))
    found = {r["nip"]: r for r in uow.execute(_READ, {"nips": sorted(by_nip)}).mappings()}
    rows = []
    for nip, mine in sorted(by_nip.items()):
        stored = found.get(nip)
        row = monev.Presence(nip) if stored is None else monev.Presence(
            nip, dict(stored["fields"]), dict(stored["slots"]), stored["stream_version"])
        changed = [row.apply(e.event_type, e.version, e.payload) for e in mine]
        # a row whose presence did not change is still written when its version moved (a
        # withheld document): live and rebuilt rows then agree whatever the page boundaries
        if stored is not None and not any(changed) and \
                row.stream_version == stored["stream_version"]:
            continue
        rows.append((nip, orjson.dumps(row.fields).decode(), orjson.dumps(row.slots).decode(),
                     row.stream_version, max(e.position for e in mine)))
    if rows:
        with uow.dbapi.cursor() as cur:
            execute_values(cur, _WRITE.format(schema=uow.store.schema), rows,
                           template=_TEMPLATE, page_size=500)


# -- assessing -------------------------------------------------------------------------------

_ASSESS = (
    "SELECT nip, name, instansi, opd_id, opd_name, status, date_of_birth, "
    # the recorded TMT pensiun, else the one the BUP of the jabatan gives (shared/career.py)
    "coalesce(tmt_pensiun, tmt_bup), "
    "tmt_golongan, tmt_cpns, c.fields, c.slots FROM {{schema}}.employees "
    "LEFT JOIN {{schema}}.completeness c USING (nip) WHERE NOT retired {where} "
    "ORDER BY instansi, opd_id, nip")


def assessed(uow, scope: domain.Scope, query: dict, today: date,
             nip: str | None = None) -> Iterator[dict]:
    """Each active employee in `scope` matching `query` (instansi, opd_id), with their
    assessment, in (instansi, OPD, NIP) order, streamed."""
    params: dict = {}
    where = scope_clause(scope, params)
    for name in ("instansi", "opd_id"):
        if query.get(name):
            where.append(f"{name} = :{name}")
            params[name] = query[name]
    if nip is not None:
        where.append("nip = :nip")
        params["nip"] = nip
    sql = reports.psycopg2_placeholders(_ASSESS.format(where="".join(" AND " + w for w in where)))
    rules = monev.rules()
    for row in reports.stream(uow, sql, params):
        (nip_, name, inst, opd_id, opd_name, status, born, tmt_pensiun, tmt_golongan,
         tmt_cpns, fields, slots) = row
        employee = {"nip": nip_, "name": name, "instansi": inst, "opd_id": opd_id,
                    "opd_name": opd_name, "status": status, "date_of_birth": born,
                    "tmt_pensiun": tmt_pensiun, "tmt_golongan": tmt_golongan,
                    "tmt_cpns": tmt_cpns}
        filled = {k for k, (_, ok) in (fields or {}).items() if ok}
        yield {**employee, **monev.assess(employee, filled, set(slots or {}), today, rules)}


def opd_name(instansi_code: str, opd_id: str | None, given: str | None = None) -> str | None:
    if instansi_code == PROVINCE:
        return opds().get(opd_id or "", given or opd_id)
    return given or opd_id


def _fasilitators(uow, actor: Principal) -> list[dict]:
    """The fasilitators a rollup names: all of them for BKD and auditors, a fasilitator only
    themself, a region none (the province's fasilitators are not theirs)."""
    rows = uow.execute("SELECT account_id, display_name, opd_scope FROM fasilitators "
                       "WHERE active ORDER BY account_id").mappings().all()
    if actor.has("administrator", "auditor"):
        return [dict(r) for r in rows]
    if "fasilitator" in actor.roles:
        return [dict(r) for r in rows if r["account_id"] == actor.account_id]
    return []


ROLLUP_COLUMNS = {
    "opd": [reports.Column("instansi", "Instansi"), reports.Column("opd_id", "Kode OPD"),
            reports.Column("opd_name", "OPD")],
    "instansi": [reports.Column("instansi", "Instansi"),
                 reports.Column("instansi_name", "Nama instansi")],
    "fasilitator": [reports.Column("account_id", "Akun fasilitator"),
                    reports.Column("display_name", "Nama"),
                    reports.Column("opd_ids", "OPD binaan")],
}
FIGURE_COLUMNS = [reports.Column("employees", "Jumlah pegawai", "int"),
                  reports.Column("complete", "Pegawai lengkap", "int"),
                  reports.Column("complete_percent", "% pegawai lengkap", "percent"),
                  reports.Column("required", "Isian wajib", "int"),
                  reports.Column("present", "Isian terisi", "int"),
                  reports.Column("percent", "% kelengkapan", "percent")]
_FIGURES = ("employees", "complete", "complete_percent", "required", "present", "percent")


def rollup_columns(query: dict) -> list[reports.Column]:
    return ROLLUP_COLUMNS[query.get("group", "opd")] + FIGURE_COLUMNS


def rollup_rows(uow, actor: Principal, query: dict, today: date | None = None):
    """One row per group the caller may see, with its figures."""
    scope = reports.scope_of(actor)
    today = today or today_wib()
    group = query.get("group", "opd")
    tallies: dict[tuple, monev.Tally] = {}
    names: dict[tuple, str | None] = {}
    if group == "fasilitator":
        people = _fasilitators(uow, actor)
        by_opd: dict[str, list[str]] = {}
        for person in people:
            tallies[(person["account_id"],)] = monev.Tally()
            for opd_id in person["opd_scope"]:
                by_opd.setdefault(opd_id, []).append(person["account_id"])
        for item in assessed(uow, scope, query, today):
            if item["instansi"] == PROVINCE:
                for account_id in by_opd.get(item["opd_id"], ()):
                    tallies[(account_id,)].add(item)
        for person in people:
            figures = tallies[(person["account_id"],)].figures()
            yield (person["account_id"], person["display_name"],
                   ", ".join(sorted(person["opd_scope"])), *(figures[k] for k in _FIGURES))
        return
    for item in assessed(uow, scope, query, today):
        key = (item["instansi"], item["opd_id"]) if group == "opd" else (item["instansi"],)
        tallies.setdefault(key, monev.Tally()).add(item)
        names.setdefault(key, item["opd_name"])
    for key in sorted(tallies, key=lambda k: tuple(x or "" for x in k)):
        figures = tallies[key].figures()
        if group == "opd":
            label = (key[0], key[1], opd_name(key[0], key[1], names[key]))
        else:
            label = (key[0], instansi().get(key[0], {}).get("name", key[0]))
        yield (*label, *(figures[k] for k in _FIGURES))


# -- each employee's missing list ------------------------------------------------------------

MISSING_COLUMNS = [
    reports.Column("nip", "NIP"), reports.Column("name", "Nama"),
    reports.Column("instansi", "Instansi"), reports.Column("opd_id", "Kode OPD"),
    reports.Column("status", "Status"), reports.Column("layanan", "Layanan yang akan datang"),
    reports.Column("missing_fields", "Data belum diisi"),
    reports.Column("missing_documents", "Dokumen belum diunggah"),
    reports.Column("required", "Isian wajib", "int"), reports.Column("present", "Terisi", "int"),
    reports.Column("percent", "% kelengkapan", "percent")]


def missing_columns(query: dict) -> list[reports.Column]:
    return MISSING_COLUMNS


def _missing_items(uow, scope, query: dict, today: date, nip: str | None = None):
    for item in assessed(uow, scope, query, today, nip):
        if query.get("incomplete_only", True) and item["complete"]:
            continue
        if query.get("layanan") and query["layanan"] not in item["layanan"]:
            continue
        yield item


def missing_rows(uow, actor: Principal, query: dict, today: date | None = None):
    """Each employee in scope still missing something (or every one), with what is missing:
    field and slot codes joined by ", " (the API's `completeness_employees` answers lists)."""
    scope = reports.scope_of(actor)
    for item in _missing_items(uow, scope, query, today or today_wib()):
        yield (item["nip"], item["name"], item["instansi"], item["opd_id"], item["status"],
               ", ".join(item["layanan"]), ", ".join(item["missing_fields"]),
               ", ".join(item["missing_documents"]), item["required"], item["present"],
               item["percent"])


def _explained(item: dict) -> dict:
    rules = monev.rules()
    slots = {code: slot["nama"] for code, slot in _slot_names().items()}  # never confidential
    return {"nip": item["nip"], "name": item["name"], "instansi": item["instansi"],
            "opd_id": item["opd_id"], "status": item["status"], "layanan": item["layanan"],
            "missing_fields": [{"field": f, "name": rules.field_names.get(f, f)}
                               for f in item["missing_fields"]],
            "missing_documents": [{"slot": s, "name": slots.get(s, s)}
                                  for s in item["missing_documents"]],
            "required": item["required"], "present": item["present"],
            "percent": item["percent"], "complete": item["complete"]}


def _slot_names() -> dict:
    return {code: slot for code, slot in document_slots().items() if not slot["confidential"]}


def employees_page(uow, actor: Principal, query: dict, today: date | None = None) -> dict:
    """One page of the missing list, each field and document named."""
    scope = reports.scope_of(actor)
    items, has_more = [], False
    for n, item in enumerate(_missing_items(uow, scope, query, today or today_wib())):
        if n < query["offset"]:
            continue
        if len(items) == query["limit"]:
            has_more = True
            break
        items.append(_explained(item))
    return {"items": items, "limit": query["limit"], "offset": query["offset"],
            "has_more": has_more}


def of_employee(uow, actor: Principal, nip: str, today: date | None = None) -> dict:
    """One employee's completeness: the pegawai themself, or anyone whose scope holds them."""
    if not (len(nip) == 18 and nip.isdigit()):  # a path that names nobody: as for any NIP
        raise NotFound("pegawai tidak ditemukan", field="nip")
    if actor.roles & {"administrator", "auditor", "fasilitator", "machine"}:
        scope = reports.scope_of(actor)
    elif actor.account_id == nip:
        scope = domain.Scope(everyone=True)
    else:
        raise Forbidden("kelengkapan data pegawai lain tidak dapat dilihat", field="nip")
    found = list(assessed(uow, scope, {}, today or today_wib(), nip))
    if not found:
        raise NotFound("pegawai tidak ditemukan (atau di luar cakupan Anda)", field="nip")
    return _explained(found[0])


# -- the trend: a daily snapshot per OPD ---------------------------------------------------

_SNAPSHOT = (
    "INSERT INTO completeness_daily (day, instansi, opd_id, employees, complete, required, "
    "present, percent) VALUES (:day, :instansi, :opd_id, :employees, :complete, :required, "
    ":present, :percent) ON CONFLICT (day, instansi, opd_id) DO UPDATE SET "
    "employees = EXCLUDED.employees, complete = EXCLUDED.complete, "
    "required = EXCLUDED.required, present = EXCLUDED.present, percent = EXCLUDED.percent, "
    "taken_at = now()")


def snapshot(uow, today: date | None = None) -> int:
    """Today's (WIB) figure of every OPD, written or refreshed; earlier days are left as they
    were. Running it twice the same day with nothing changed writes the same rows."""
    today = today or today_wib()
    tallies: dict[tuple, monev.Tally] = {}
    for item in assessed(uow, domain.Scope(everyone=True), {}, today):
        key = (item["instansi"], item["opd_id"] or "")
        tallies.setdefault(key, monev.Tally()).add(item)
    for (inst, opd_id), tally in sorted(tallies.items()):
        uow.execute(_SNAPSHOT, {"day": today, "instansi": inst, "opd_id": opd_id,
                                **{k: v for k, v in tally.figures().items()
                                   if k != "complete_percent"}})
    return len(tallies)


TREND_COLUMNS = [reports.Column("day", "Tanggal", "date"),
                 reports.Column("instansi", "Instansi"), reports.Column("opd_id", "Kode OPD"),
                 reports.Column("opd_name", "OPD"),
                 reports.Column("employees", "Jumlah pegawai", "int"),
                 reports.Column("complete", "Pegawai lengkap", "int"),
                 reports.Column("percent", "% kelengkapan", "percent")]


def trend_columns(query: dict) -> list[reports.Column]:
    return TREND_COLUMNS


def trend_rows(uow, actor: Principal, query: dict, today: date | None = None):
    """Each OPD's figure per day in [from, to] (default the last 30 days): a chart's series is
    the OPD, its x the day, its y the percentage."""
    scope = reports.scope_of(actor)
    end = query.get("date_to") or today or today_wib()
    start = query.get("date_from") or end - timedelta(days=30)
    params: dict = {"start": start, "end": end}
    where = ["day BETWEEN :start AND :end"] + scope_clause(scope, params)
    for name in ("instansi", "opd_id"):
        if query.get(name):
            where.append(f"{name} = :{name}")
            params[name] = query[name]
    sql = reports.psycopg2_placeholders(
        "SELECT day, instansi, opd_id, employees, complete, percent "  # noqa: S608 - fixed pieces only
        "FROM {schema}.completeness_daily WHERE " + " AND ".join(where)
        + " ORDER BY instansi, opd_id, day")
    for day, inst, opd_id, employees, complete, pct in reports.stream(uow, sql, params):
        yield (day, inst, opd_id, opd_name(inst, opd_id), employees, complete, float(pct))


reports.register(reports.Report(
    name="monev_completeness", title="Kelengkapan data per OPD/instansi/fasilitator",
    personal=False, official=False, params=CompletenessRollupQuery, columns=rollup_columns,
    rows=rollup_rows, chart=lambda p: ChartSpec(
        ({"opd": "opd_name", "instansi": "instansi_name", "fasilitator": "display_name"}[
            p["group"]],), ("percent", "complete_percent"))))
reports.register(reports.Report(
    name="monev_missing", title="Kekurangan data dan dokumen per pegawai", personal=True,
    official=False, params=CompletenessListQuery, columns=missing_columns, rows=missing_rows))
reports.register(reports.Report(
    name="monev_completeness_trend", title="Tren kelengkapan data per OPD", personal=False,
    official=False, params=TrendQuery, columns=trend_columns, rows=trend_rows,
    chart=lambda p: ChartSpec(("day",), ("percent",), series_by="opd_name", kind="line")))
