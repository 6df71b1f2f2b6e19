"""The `employees` table is a projection of the records log: written in the same transaction as
each employee's events, never the source of truth. `check` proves it still equals a replay of
the log for every employee; `rebuild` re-derives rows from the log (after a bug fix in a fold,
or a restore). Both read the log through one server-side cursor, so memory stays flat."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import orjson

from services.records import domain
from services.records.events import REGISTRY
from shared.eventstore import EventStore

_ON_CONFLICT = (
    "ON CONFLICT (nip) DO UPDATE SET instansi = EXCLUDED.instansi, opd_id = EXCLUDED.opd_id, "
    "name = EXCLUDED.name, "
    "status = EXCLUDED.status, version = EXCLUDED.version, record = EXCLUDED.record, "
    "updated_at = now()"
)
UPSERT_TEMPLATE = ("(%(nip)s, %(instansi)s, %(opd)s, %(name)s, %(status)s, %(version)s, "
                   "%(record)s::jsonb)")
_INSERT = ("INSERT INTO {schema}.employees (nip, instansi, opd_id, name, status, version, record) "
           "VALUES ")
#: one row (`row_for`), and many rows through psycopg2's execute_values
UPSERT = _INSERT + UPSERT_TEMPLATE + " " + _ON_CONFLICT
UPSERT_MANY = _INSERT + "%s " + _ON_CONFLICT




def row_for(employee: domain.Employee) -> dict:
    """The projection row of an employee: the full (administrator's) view."""
    return {"nip": employee.nip, "instansi": domain.instansi_of(employee.data),
            "opd": employee.data["opd_id"], "name": employee.data["name"],
            "status": employee.data["status"], "version": employee.version,
            "record": orjson.dumps(employee.view(confidential=True)).decode()}


def replayed(conn, schema: str = "records") -> Iterator[domain.Employee]:
    """Every employee rebuilt from the log alone, one at a time."""
    current: domain.Employee | None = None
    for event in EventStore(schema, REGISTRY).iter_stream_type(conn, "Employee"):
        if current is None or domain.stream_for(current.nip) != event.stream_id:
            if current is not None:
                yield current
            current = domain.Employee()
        current.apply(event.event_type, event.payload)
    if current is not None:
        yield current


@dataclass
class CheckReport:
    checked: int = 0
    #: (nip, [top-level keys that differ]) where the stored row is not the replayed state
    mismatched: list[tuple[str, list[str]]] = field(default_factory=list)
    #: employees in the log with no projection row, and rows with no events behind them
    missing: list[str] = field(default_factory=list)
    orphaned: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.mismatched or self.missing or self.orphaned)


def check(conn, schema: str = "records") -> CheckReport:
    """Compare every stored row with a replay of its stream, in one REPEATABLE READ snapshot
    (so a concurrent write cannot show up as a false mismatch)."""
    conn.rollback()  # set_session needs no open transaction
    conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
    report = CheckReport()
    try:
        stored_nips = set()
        with conn.cursor(name="projection_rows") as rows:
            rows.itersize = 2000
            rows.execute(f"SELECT nip FROM {schema}.employees")  # noqa: S608 - identifiers from code only; every value is a bound parameter
            stored_nips = {nip for (nip,) in rows}
        for employee in replayed(conn, schema):
            report.checked += 1
            with conn.cursor() as cur:
                cur.execute(f"SELECT record::text, version, instansi FROM {schema}.employees "  # noqa: S608 - identifiers from code only; every value is a bound parameter
                            "WHERE nip = %s", (employee.nip,))
                row = cur.fetchone()
            if row is None:
                report.missing.append(employee.nip)
                continue
            stored_nips.discard(employee.nip)
            expected = orjson.loads(orjson.dumps(employee.view(confidential=True)))
            stored = orjson.loads(row[0])
            instansi = domain.instansi_of(employee.data)
            if stored != expected or row[1] != employee.version or row[2] != instansi:
                keys = {k for k in expected.keys() | stored.keys()
                        if expected.get(k) != stored.get(k)}
                if row[1] != employee.version:
                    keys.add("version")
                if row[2] != instansi:
                    keys.add("instansi")
                report.mismatched.append((employee.nip, sorted(keys)))
        report.orphaned = sorted(stored_nips)
    finally:
        conn.rollback()
        conn.set_session(isolation_level="READ COMMITTED", readonly=False)
    return report


def rebuild(conn, schema: str = "records", nips: set[str] | None = None) -> int:
    """Re-derive projection rows from the log (all, or only `nips`); returns rows written."""
    written = 0
    with conn:
        with conn.cursor() as cur:
            for employee in replayed(conn, schema):
                if nips is not None and employee.nip not in nips:
                    continue
                cur.execute(UPSERT.format(schema=schema), row_for(employee))
                written += 1
    return written
