"""The `employees` read model: each records event of an employee folded into its row
(domain.EmployeeRow), in the transaction that marks the event consumed and moves the
subscription's position (shared/consumer.py), so a replay or a duplicate changes nothing."""

from __future__ import annotations

import orjson

from services.reporting import domain

#: how `simasn projections rebuild reporting.employees` empties the read model: every row is
#: derived from the records log, nothing else is kept in it
RESET = ("DELETE FROM employees",)

_DATES = ("date_of_birth", "tmt_cpns", "tmt_pns", "tmt_pensiun", "tmt_golongan", "tmt_jabatan")
_WRITE = (  # noqa: S608 - column names from domain.COLUMNS only; values are bound
    "INSERT INTO employees (nip, {cols}, golongan_rank, field_versions, stream_version, position) "
    "VALUES (:nip, {vals}, :golongan_rank, CAST(:field_versions AS jsonb), :stream_version, "
    ":position) ON CONFLICT (nip) DO UPDATE SET {sets}, golongan_rank = EXCLUDED.golongan_rank, "
    "field_versions = EXCLUDED.field_versions, stream_version = EXCLUDED.stream_version, "
    "position = GREATEST(employees.position, EXCLUDED.position), updated_at = now()"
).format(cols=", ".join(domain.COLUMNS),
         vals=", ".join(f"CAST(:{c} AS date)" if c in _DATES else f":{c}"
                        for c in domain.COLUMNS),
         sets=", ".join(f"{c} = EXCLUDED.{c}" for c in domain.COLUMNS))
_READ = (  # noqa: S608 - column names from domain.COLUMNS only
    "SELECT {cols}, field_versions, stream_version FROM employees WHERE nip = :nip "
    "FOR UPDATE"
).format(cols=", ".join(f"{c}::text" if c in _DATES else c for c in domain.COLUMNS))


def _nip_of(event) -> str | None:
    stream_type, _, nip = event.stream_id.partition(":")
    return nip if stream_type == "employee" and len(nip) == 18 and nip.isdigit() else None


def employee_event(uow, event) -> None:
    """Fold one records event of `employee:<NIP>` into that employee's row."""
    nip = _nip_of(event)
    if nip is None:
        return
    found = uow.execute(_READ, {"nip": nip}).mappings().first()
    if found is None:
        row = domain.EmployeeRow.empty(nip)
    else:
        row = domain.EmployeeRow(nip, {c: found[c] for c in domain.COLUMNS},
                                 dict(found["field_versions"]), found["stream_version"])
    if not row.apply(event.event_type, event.version, event.payload) and found is not None:
        return
    uow.execute(_WRITE, {
        "nip": nip, **{c: row.values.get(c) for c in domain.COLUMNS},
        "golongan_rank": domain.golongan_ranks().get(row.values.get("golongan")),
        "field_versions": orjson.dumps(row.versions).decode(),
        "stream_version": row.stream_version, "position": event.position})
