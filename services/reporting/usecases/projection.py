"""The `employees` read model: records events of employees folded into their rows
(domain.EmployeeRow), in the transaction that marks the events consumed and moves the
subscription's position (shared/consumer.py, shared/subscriptions.py), so a replay or a
duplicate changes nothing. A live event comes alone; a catch-up brings a feed page at once
(`employee_events`): the page's rows are read with one query, folded in memory and written
with one statement, which is what makes a rebuild fast.

Every event that changes a row also leaves the row as it then stood in `employee_versions`,
valid from the event's `recorded_at`: what any list looked like at a past moment is read from
there (usecases/lists.py `source`). Those rows are written with the same page-at-once
statement; only an event older than the row's newest version (a live delivery overtaken by a
catch-up) reads that employee's stored versions, to insert its own from the one below it and
fold itself into those above it."""

from __future__ import annotations

import orjson

from services.reporting import domain
from shared.reference import PROVINCE

#: how `simasn projections rebuild reporting.employees` empties the read model: every row is
#: derived from the records log, nothing else is kept in it
RESET = ("DELETE FROM employees", "DELETE FROM employee_versions")

_STATE = (*domain.COLUMNS, *domain.COMPUTED)
_KEYS = ("nip", *_STATE, "field_versions", "stream_version", "position")
_VKEYS = ("nip", "stream_version", "valid_from", *_STATE, "field_versions", "position")
_DATES = ("date_of_birth", "tmt_cpns", "tmt_pns", "tmt_pensiun", "tmt_golongan", "tmt_jabatan",
          "last_kgb_tmt", "tmt_bup")
# A page's rows go in as one JSON array parameter, unpacked by PostgreSQL into the table's row
# type: orjson makes the text far faster than psycopg2 quotes 35 values a row one by one.
_WRITE = (  # noqa: S608 - column names from domain.COLUMNS only; values are bound
    "INSERT INTO {{schema}}.employees ({cols}) SELECT {cols} FROM jsonb_populate_recordset("
    "NULL::{{schema}}.employees, %s::jsonb) ON CONFLICT (nip) DO UPDATE SET {sets}, "
    "field_versions = EXCLUDED.field_versions, stream_version = EXCLUDED.stream_version, "
    "position = GREATEST(employees.position, EXCLUDED.position), updated_at = now()"
).format(cols=", ".join(_KEYS), sets=", ".join(f"{c} = EXCLUDED.{c}" for c in _STATE))
_INSERT_VERSIONS = (  # noqa: S608 - column names from domain.COLUMNS only; values are bound
    "INSERT INTO {{schema}}.employee_versions ({cols}) SELECT {cols} FROM "
    "jsonb_populate_recordset(NULL::{{schema}}.employee_versions, %s::jsonb)"
).format(cols=", ".join(_VKEYS))
_WRITE_VERSIONS = _INSERT_VERSIONS + (
    " ON CONFLICT (nip, stream_version) DO UPDATE SET {sets}, "
    "field_versions = EXCLUDED.field_versions"
).format(sets=", ".join(f"{c} = EXCLUDED.{c}" for c in _STATE))
_COLS = ", ".join(f"{c}::text" if c in _DATES else c for c in domain.COLUMNS)
_READ = (
    f"SELECT nip, {_COLS}, field_versions, stream_version FROM employees "  # noqa: S608 - column names from domain.COLUMNS only
    "WHERE nip = ANY(CAST(:nips AS text[])) ORDER BY nip FOR UPDATE")
_READ_VERSIONS = (
    f"SELECT nip, {_COLS}, field_versions, stream_version, valid_from::text AS valid_from, "  # noqa: S608 - column names from domain.COLUMNS only
    "position FROM employee_versions WHERE nip = :nip ORDER BY stream_version")


# A FOR UPDATE read locks the rows that exist. Two writers of an employee the read model does
# not have yet (the catch-up and a live delivery overtaking it) both read nothing, and the
# second upsert replaced the first's row: a registration folded by one was lost to the other's
# later entry, and the employee counted under no OPD. So each writer first takes a transaction
# lock per NIP (in NIP order, the order of the row locks too: no two writers wait crosswise).
_LOCK_KEYS = ("SELECT count(pg_advisory_xact_lock(hashtextextended(:model || ':' || k, 0))) "
              "FROM unnest(CAST(:keys AS text[])) AS k")


def lock_rows(uow, model: str, nips: list[str]) -> None:
    """Hold `model`'s write lock on each of `nips` (sorted) until the transaction ends, whether
    or not their rows exist yet; then read them FOR UPDATE."""
    uow.execute(_LOCK_KEYS, {"model": f"{uow.store.schema}.{model}", "keys": sorted(nips)})


def _nip_of(event) -> str | None:
    stream_type, _, nip = event.stream_id.partition(":")
    return nip if stream_type == "employee" and len(nip) == 18 and nip.isdigit() else None


def by_employee(events) -> dict[str, list]:
    """Records events of `employee:<NIP>` streams grouped by NIP, each group in log order
    (every read model folding employees starts so)."""
    grouped: dict[str, list] = {}
    for event in events:
        nip = _nip_of(event)
        if nip is not None:
            grouped.setdefault(nip, []).append(event)
    return grouped


def _row(stored) -> domain.EmployeeRow:
    return domain.EmployeeRow(stored["nip"], {c: stored[c] for c in domain.COLUMNS},
                              dict(stored["field_versions"]), stored["stream_version"])


def _state(row: domain.EmployeeRow) -> dict:
    values = {c: row.values.get(c) for c in domain.COLUMNS}
    # an entry overtaking the registration: the row waits for it under the column's default
    values["instansi"] = values["instansi"] or PROVINCE
    return {"nip": row.nip, **values, **domain.computed(values),
            "field_versions": orjson.Fragment(orjson.dumps(row.versions))}


def employee_event(uow, event) -> None:
    """Fold one records event of `employee:<NIP>` into that employee's row (a live delivery)."""
    employee_events(uow, [event])


def employee_events(uow, events) -> None:
    """Fold records events, in log order, into their employees' rows: one read of the rows
    concerned (locked, in NIP order, so two writers never wait on each other crosswise), the
    folds in memory, one write of the rows that changed and one of their new versions."""
    by_nip = by_employee(events)
    if not by_nip:
        return
    lock_rows(uow, "employees", list(by_nip))
    found = {r["nip"]: r for r in uow.execute(_READ, {"nips": sorted(by_nip)}).mappings()}
    rows, versions, rewritten = [], [], set()
    for nip, mine in by_nip.items():
        stored = found.get(nip)
        row = domain.EmployeeRow.empty(nip) if stored is None else _row(stored)
        changed, late = False, []
        for event in mine:
            if event.version <= row.stream_version:
                late.append(event)  # older than a version already kept: see _late
                changed = row.apply(event.event_type, event.version, event.payload) or changed
            elif row.apply(event.event_type, event.version, event.payload):
                changed = True
                versions.append({**_state(row), "stream_version": event.version,
                                 "valid_from": event.recorded_at, "position": event.position})
        if late:
            versions += _late(uow, nip, late, versions)
            rewritten.add(nip)
        if stored is not None and not changed:
            continue
        last = versions[-1] if versions and not late else None
        # the row as its last version left it: the same state, made once
        state = (last if last and last["nip"] == nip
                 and last["stream_version"] == row.stream_version else _state(row))
        rows.append({**state, "stream_version": row.stream_version,
                     "position": max(e.position for e in mine)})
    with uow.dbapi.cursor() as cur:
        if rows:
            _write(cur, _WRITE, uow.store.schema, rows)
        if versions:
            _write_versions(cur, uow.store.schema, _last_of_each(versions), rewritten)


def _late(uow, nip: str, late: list, pending: list[dict]) -> list[dict]:
    """The versions of `nip` once each late event is in: its own (the version below it, plus
    itself) and every later one with it folded in. The fold is the same in any order, so
    this gives what an in-order fold would have kept."""
    kept: dict[int, tuple[str, int, domain.EmployeeRow]] = {}
    for stored in uow.execute(_READ_VERSIONS, {"nip": nip}).mappings():
        kept[stored["stream_version"]] = (stored["valid_from"], stored["position"],
                                          _row(stored))
    for version in pending:  # written in this same call, not yet in the table
        if version["nip"] == nip:
            values = {c: version[c] for c in domain.COLUMNS}
            kept[version["stream_version"]] = (
                version["valid_from"], version["position"],
                domain.EmployeeRow(nip, values,
                                   orjson.loads(orjson.dumps(version["field_versions"])),
                                   version["stream_version"]))
    for event in late:
        if event.version in kept:
            continue
        below = [v for v in kept if v < event.version]
        row = kept[max(below)][2].copy() if below else domain.EmployeeRow.empty(nip)
        row.apply(event.event_type, event.version, event.payload)
        row.stream_version = event.version
        for version, (_, _, later) in kept.items():
            if version > event.version:
                later.apply(event.event_type, event.version, event.payload)
                later.stream_version = version
        kept[event.version] = (event.recorded_at, event.position, row)
    return [{**_state(row), "stream_version": version, "valid_from": valid_from,
             "position": position} for version, (valid_from, position, row) in kept.items()]


def _last_of_each(versions: list[dict]) -> list[dict]:
    """One row per (NIP, version), the last one made (an INSERT may not touch a row twice)."""
    return list({(v["nip"], v["stream_version"]): v for v in versions}.values())


def _write_versions(cur, schema: str, versions: list[dict], rewritten: set[str]) -> None:
    """New versions (in order: none of them can exist yet) by a plain INSERT; the versions of
    employees a late event rewrote by INSERT ... ON CONFLICT. (COPY would be faster still, but
    psycopg2 refuses it under eventlet's wait callback, which `nameko run` installs.)"""
    fresh = [v for v in versions if v["nip"] not in rewritten]
    again = [v for v in versions if v["nip"] in rewritten]
    if fresh:
        _write(cur, _INSERT_VERSIONS, schema, fresh)
    if again:
        _write(cur, _WRITE_VERSIONS, schema, again)


def _write(cur, sql: str, schema: str, rows: list[dict]) -> None:
    for first in range(0, len(rows), 1000):
        cur.execute(sql.format(schema=schema), (orjson.dumps(rows[first:first + 1000]).decode(),))
