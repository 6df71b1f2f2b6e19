"""The `employees` read model: records events of employees folded into their rows
(domain.EmployeeRow), in the transaction that marks the events consumed and moves the
subscription's position (shared/consumer.py, shared/subscriptions.py), so a replay or a
duplicate changes nothing. A live event comes alone; a catch-up brings a feed page at once
(`employee_events`): the page's rows are read with one query, folded in memory and written
with one statement, which is what makes a rebuild fast."""

from __future__ import annotations

import orjson
from psycopg2.extras import execute_values

from services.reporting import domain

#: how `simasn projections rebuild reporting.employees` empties the read model: every row is
#: derived from the records log, nothing else is kept in it
RESET = ("DELETE FROM employees",)

_DATES = ("date_of_birth", "tmt_cpns", "tmt_pns", "tmt_pensiun", "tmt_golongan", "tmt_jabatan")
_KEYS = ("nip", *domain.COLUMNS, "golongan_rank", "field_versions", "stream_version", "position")
_WRITE = (  # noqa: S608 - column names from domain.COLUMNS only; values are bound
    "INSERT INTO {{schema}}.employees ({cols}) VALUES %s ON CONFLICT (nip) DO UPDATE SET {sets}, "
    "golongan_rank = EXCLUDED.golongan_rank, field_versions = EXCLUDED.field_versions, "
    "stream_version = EXCLUDED.stream_version, "
    "position = GREATEST(employees.position, EXCLUDED.position), updated_at = now()"
).format(cols=", ".join(_KEYS), sets=", ".join(f"{c} = EXCLUDED.{c}" for c in domain.COLUMNS))
_TEMPLATE = "(" + ", ".join(
    f"CAST(%({k})s AS date)" if k in _DATES else
    "CAST(%(field_versions)s AS jsonb)" if k == "field_versions" else f"%({k})s"
    for k in _KEYS) + ")"
_READ = (  # noqa: S608 - column names from domain.COLUMNS only
    "SELECT nip, {cols}, field_versions, stream_version FROM employees "
    "WHERE nip = ANY(CAST(:nips AS text[])) ORDER BY nip FOR UPDATE"
).format(cols=", ".join(f"{c}::text" if c in _DATES else c for c in domain.COLUMNS))


def _nip_of(event) -> str | None:
    stream_type, _, nip = event.stream_id.partition(":")
    return nip if stream_type == "employee" and len(nip) == 18 and nip.isdigit() else None


def employee_event(uow, event) -> None:
    """Fold one records event of `employee:<NIP>` into that employee's row (a live delivery)."""
    employee_events(uow, [event])


def employee_events(uow, events) -> None:
    """Fold records events, in log order, into their employees' rows: one read of the rows
    concerned (locked, in NIP order, so two writers never wait on each other crosswise), the
    folds in memory, one write of the rows that changed."""
    by_nip: dict[str, list] = {}
    for event in events:
        nip = _nip_of(event)
        if nip is not None:
            by_nip.setdefault(nip, []).append(event)
    if not by_nip:
        return
    found = {r["nip"]: r for r in uow.execute(_READ, {"nips": sorted(by_nip)}).mappings()}
    rows = []
    for nip, mine in by_nip.items():
        stored = found.get(nip)
        row = domain.EmployeeRow.empty(nip) if stored is None else domain.EmployeeRow(
            nip, {c: stored[c] for c in domain.COLUMNS}, dict(stored["field_versions"]),
            stored["stream_version"])
        changed = [row.apply(e.event_type, e.version, e.payload) for e in mine]
        if stored is not None and not any(changed):
            continue
        rows.append({"nip": nip, **{c: row.values.get(c) for c in domain.COLUMNS},
                     "golongan_rank": domain.golongan_ranks().get(row.values.get("golongan")),
                     "field_versions": orjson.dumps(row.versions).decode(),
                     "stream_version": row.stream_version,
                     "position": max(e.position for e in mine)})
    if rows:
        with uow.dbapi.cursor() as cur:
            execute_values(cur, _WRITE.format(schema=uow.store.schema), rows,
                           template=_TEMPLATE, page_size=500)
