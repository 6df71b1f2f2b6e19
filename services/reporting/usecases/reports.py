"""Every list and statistic the reporting service answers, as one registry (`REPORTS`): what its
columns are, who may see it, whether it names persons, and how its rows are read. The pages on
screen, the exports (CSV, XLSX, PDF) and the charts all read a report through this one interface,
so a new list is registered once and is exportable at once.

A report's `rows` yields plain tuples in the order of its columns, already cut to what the
caller may see (domain.scope_for): an export streams them from a server-side cursor and never
holds the whole list in memory."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date

from services.reporting import domain
from services.reporting.exceptions import ReportUnknown
from shared.auth import Principal
from shared.errors import Forbidden


@dataclass(frozen=True)
class Column:
    """One column: its key (the API's field name), its heading in Bahasa Indonesia and its
    kind (text, int, date, percent), which the export formats and the PDF align by."""

    key: str
    title: str
    kind: str = "text"


@dataclass(frozen=True)
class Report:
    """One list or statistic.

    - `personal`: its rows name persons (NIP, name): every export of it is a disclosure;
    - `official`: its PDF is an official list, signed by the signing service;
    - `params`: the marshmallow schema of its filters (shared/contracts/reporting.py);
    - `columns(params)`: its columns for these filters;
    - `rows(uow, actor, params, today)`: its rows for this caller, streamed;
    - `calendar`: its rows count working days, so `rows` takes the configured `holidays`;
    - `chart(params)`: how a statistic is drawn (charts.ChartSpec); None: its first column
      names the categories, its numeric columns are the series;
    - `subjects`: see below."""

    name: str
    title: str
    personal: bool
    official: bool
    params: type
    columns: Callable[[dict], list[Column]]
    rows: Callable[..., Iterator[tuple]]
    calendar: bool = False
    chart: Callable[[dict], object] | None = None
    #: `subjects(uow, export_id, params)`: records the NIPs an export of it released, for a
    #: personal report whose columns may leave out the NIP (a data request's release)
    subjects: Callable[..., None] | None = None
    #: `disclosure(uow, export row)`: how an export of it appears in records' disclosure log
    #: when not as a plain export (channel, recipient, basis)
    disclosure: Callable[..., dict] | None = None


#: name -> report; each module that defines a report registers it here (`register`)
REPORTS: dict[str, Report] = {}


def register(report: Report) -> Report:
    if report.name in REPORTS:
        raise ValueError(f"report {report.name!r} registered twice")
    REPORTS[report.name] = report
    return report


def named(name) -> Report:
    """The report registered as `name`; anything else is `404 report_unknown` naming those
    there are."""
    report = REPORTS.get(name) if isinstance(name, str) else None
    if report is None:
        raise ReportUnknown(f"laporan {str(name)[:40]!r} tidak dikenal; tersedia: "
                            + ", ".join(sorted(REPORTS)), field="name")
    return report


def read(report: Report, uow, actor: Principal, params: dict, today: date | None = None,
         holidays: frozenset = frozenset(), **extra) -> Iterator[tuple]:
    """The rows of `report` for `actor`: how every page, export and chart reads a report (the
    holidays reach the reports that count working days)."""
    if report.calendar:
        extra["holidays"] = holidays
    return report.rows(uow, actor, params, today, **extra)


def scope_of(actor: Principal) -> domain.Scope:
    """The employees `actor` may see in any report; pegawai (and anyone else) see none."""
    scope = domain.scope_for(actor.account_id, actor.roles, actor.opd_scope)
    if scope is None:
        raise Forbidden("laporan kepegawaian hanya untuk fasilitator, BKD, auditor dan instansi "
                        "kabupaten/kota", field="role")
    return scope


def stream(uow, sql: str, params: dict, size: int = 2000) -> Iterator[tuple]:
    """The rows of `sql` from a server-side cursor, `size` at a time: memory stays flat
    whatever the length of the list (the unit of work's transaction must stay open while the
    caller iterates)."""
    with uow.dbapi.cursor(name=f"report_{id(params):x}") as cur:
        cur.itersize = size
        cur.execute(sql.format(schema=uow.store.schema), params)
        yield from cur


def psycopg2_placeholders(sql: str) -> str:
    """SQLAlchemy's `:name` placeholders as psycopg2's `%(name)s`, for a server-side cursor
    (a `::` cast is left alone)."""
    return re.sub(r"(?<!:):([a-z_]+)", r"%(\1)s", sql)


def as_text(value) -> object:
    return value.isoformat() if isinstance(value, date) else value
