"""Verification workload and SLA per OPD (monev, issue 15 part 3), from the requests log
(subscription `reporting.workload`).

Each request's steps are kept (version, event, WIB day) with what its submission said (OPD,
layanan, the SLA in working days of the catalogue version it was submitted under); the
summary (stage, days in BKD's hands per clock, breach) is computed from all the steps at the
time of asking (monev.request_summary), so the order the events arrived in does not matter and
an open request's age grows with the calendar. A confidential request (hukuman disiplin) is
withheld from the bus: it has no OPD here and is not counted (BKD sees it in its own queue)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime

from services.reporting import domain, monev
from services.reporting.charts import ChartSpec
from services.reporting.usecases import reports
from services.reporting.usecases.completeness import opd_name
from shared.auth import Principal
from shared.calendar import WIB, today_wib
from shared.contracts.monev import WorkloadQuery

#: how `simasn projections rebuild reporting.workload` empties the read model
RESET = ("DELETE FROM workload_steps", "DELETE FROM workload_requests")


def _day(recorded_at: str) -> date:
    return datetime.fromisoformat(recorded_at.replace("Z", "+00:00")).astimezone(WIB).date()


def request_event(uow, event) -> None:
    """One step of a request; its submission also says where it belongs."""
    stream_type, _, request_id = event.stream_id.partition(":")
    payload = event.payload
    if stream_type != "request" or payload.get("withheld") or \
            event.event_type not in monev.STAGE_AFTER:
        return
    uow.execute("INSERT INTO workload_steps (request_id, version, event_type, day) VALUES "
                "(:r, :v, :t, :d) ON CONFLICT DO NOTHING",
                {"r": request_id, "v": event.version, "t": event.event_type,
                 "d": _day(event.recorded_at)})
    if event.event_type == "RequestSubmitted":
        uow.execute(
            "INSERT INTO workload_requests (request_id, opd_id, layanan, sla_hari_kerja, "
            "stream_version) VALUES (:r, :o, :l, :s, :v) ON CONFLICT (request_id) DO UPDATE SET "
            "opd_id = CASE WHEN EXCLUDED.stream_version > workload_requests.stream_version "
            "THEN EXCLUDED.opd_id ELSE workload_requests.opd_id END, "
            "layanan = COALESCE(workload_requests.layanan, EXCLUDED.layanan), "
            "sla_hari_kerja = CASE WHEN EXCLUDED.stream_version > "
            "workload_requests.stream_version THEN EXCLUDED.sla_hari_kerja "
            "ELSE workload_requests.sla_hari_kerja END, "
            "stream_version = GREATEST(EXCLUDED.stream_version, workload_requests.stream_version)",
            {"r": request_id, "o": payload.get("opd_id"), "l": payload.get("layanan"),
             "s": payload.get("sla_hari_kerja"), "v": event.version})


def _scope_where(scope: domain.Scope, params: dict) -> list[str]:
    if scope.everyone:
        return []
    if scope.instansi is not None:  # a kabupaten/kota's units are "<code>.<unit>"
        params["prefix"] = scope.instansi + ".%"
        return ["r.opd_id LIKE :prefix"]
    params["opds"] = list(scope.opds)
    return ["r.opd_id = ANY(CAST(:opds AS text[]))"]


def summaries(uow, scope: domain.Scope, opd_id: str | None, today: date,
              holidays: frozenset) -> dict[str, list[dict]]:
    """OPD -> the summary of each of its requests."""
    params: dict = {}
    where = ["r.opd_id IS NOT NULL"] + _scope_where(scope, params)
    if opd_id:
        where.append("r.opd_id = :opd_id")
        params["opd_id"] = opd_id
    rows = uow.execute(
        "SELECT r.request_id, r.opd_id, r.layanan, r.sla_hari_kerja, s.version, s.event_type, "  # noqa: S608 - fixed pieces only
        "s.day FROM workload_requests r JOIN workload_steps s USING (request_id) WHERE "
        + " AND ".join(where) + " ORDER BY r.request_id, s.version", params).all()
    steps: dict[str, list] = defaultdict(list)
    info: dict[str, tuple] = {}
    for request_id, opd, layanan, sla, version, kind, day in rows:
        steps[request_id].append((version, kind, day))
        info[request_id] = (opd, layanan, sla)
    out: dict[str, list[dict]] = defaultdict(list)
    for request_id, mine in steps.items():
        opd, layanan, sla = info[request_id]
        summary = monev.request_summary(mine, today, holidays)
        out[opd].append({**summary, "request_id": request_id, "layanan": layanan,
                         "sla": sla})
    return out


COLUMNS = [
    reports.Column("opd_id", "Kode OPD"), reports.Column("opd_name", "OPD"),
    reports.Column("open", "Antrean terbuka", "int"),
    reports.Column("waiting_verification", "Menunggu verifikasi", "int"),
    reports.Column("in_verification", "Sedang diverifikasi", "int"),
    reports.Column("waiting_approval", "Menunggu persetujuan", "int"),
    reports.Column("oldest_days", "Usia tertua (hari kerja)", "int"),
    reports.Column("open_over_sla", "Terbuka melewati SLA", "int"),
    reports.Column("decided", "Diputus tahun ini", "int"),
    reports.Column("decided_over_sla", "Diputus melewati SLA", "int"),
    reports.Column("sla_met_percent", "% tepat SLA", "percent"),
    reports.Column("median_verification_days", "Median hari verifikasi"),
    reports.Column("median_approval_days", "Median hari persetujuan")]


def columns(query: dict) -> list[reports.Column]:
    return COLUMNS


def _median(values: list[int]) -> float | None:
    if not values:
        return None
    ordered, middle = sorted(values), len(values) // 2
    return float(ordered[middle]) if len(ordered) % 2 else (
        ordered[middle - 1] + ordered[middle]) / 2


def figures(items: list[dict], year: int) -> dict:
    """One OPD's workload: open requests in BKD's hands now (by stage, the oldest, those past
    their SLA), and those decided in `year` (past their SLA, share on time, median days per
    clock). A request past its SLA: more working days in BKD's hands than its layanan's SLA."""
    open_ = [i for i in items if i["stage"] in monev.OPEN_STAGES]
    decided = [i for i in items if i["decided"] is not None and i["decided"].year == year]
    over = [i for i in decided if i["sla"] is not None and i["bkd_days"] > i["sla"]]
    return {
        "open": len(open_),
        "waiting_verification": sum(i["stage"] == "submitted" for i in open_),
        "in_verification": sum(i["stage"] == "under_verification" for i in open_),
        "waiting_approval": sum(i["stage"] == "under_approval" for i in open_),
        "oldest_days": max((i["bkd_days"] for i in open_), default=None),
        "open_over_sla": sum(i["sla"] is not None and i["bkd_days"] > i["sla"] for i in open_),
        "decided": len(decided), "decided_over_sla": len(over),
        "sla_met_percent": monev.percent(len(decided) - len(over), len(decided))
        if decided else None,
        "median_verification_days": _median([i["verification_days"] for i in decided]),
        "median_approval_days": _median([i["approval_days"] for i in decided])}


def rows(uow, actor: Principal, query: dict, today: date | None = None,
         holidays: frozenset = frozenset()):
    """One row per OPD with requests in the caller's scope."""
    scope = reports.scope_of(actor)
    today = today or today_wib()
    year = query.get("year") or today.year
    by_opd = summaries(uow, scope, query.get("opd_id"), today, holidays)
    for opd in sorted(by_opd):
        found = figures(by_opd[opd], year)
        instansi = opd.split(".", 1)[0] if "." in opd else "35"
        yield (opd, opd_name(instansi, opd), *(found[c.key] for c in COLUMNS[2:]))


reports.register(reports.Report(
    name="monev_workload", title="Beban verifikasi dan SLA per OPD", personal=False,
    official=False, params=WorkloadQuery, columns=columns, rows=rows, calendar=True,
    chart=lambda p: ChartSpec(("opd_name",), ("open", "open_over_sla"))))
