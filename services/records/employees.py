"""Records use cases: each function is one command or query in one unit of work. The employee
is rebuilt from `employee:<NIP>`; the `employees` table is a projection written in the same
transaction. Who may do what is decided here, not only at the gateway."""

from __future__ import annotations

import uuid

from services.records import domain, projection
from services.records.exceptions import EmployeeExists, RecordRejected
from shared.auth import Principal
from shared.errors import Forbidden, NotFound
from shared.eventstore import NO_STREAM, NewEvent


def _load(uow, nip: str, as_of=None) -> domain.Employee:
    if not (len(nip) == 18 and nip.isascii() and nip.isdigit()):
        raise NotFound(f"pegawai {nip[:40]} tidak ditemukan", field="nip")
    events = uow.read_stream(domain.stream_for(nip), as_of=as_of)
    if not events:
        raise NotFound(f"pegawai {nip} tidak ditemukan", field="nip")
    return domain.replay_employee(events)


def _save(uow, employee: domain.Employee, expected: int, changes, reason: str | None) -> None:
    uow.append(domain.stream_for(employee.nip or changes[0][1]["nip"]), "Employee",
               expected if expected else NO_STREAM, [NewEvent(t, p) for t, p in changes],
               reason=reason)
    for event_type, payload in changes:
        employee.apply(event_type, payload)
    with uow.dbapi.cursor() as cur:
        cur.execute(projection.UPSERT.format(schema=uow.store.schema),
                    projection.row_for(employee))


def _checked(fn, *args):
    try:
        return fn(*args)
    except domain.RuleViolation as exc:
        raise RecordRejected.from_problems(exc.problems) from None


def may_maintain(actor: Principal, opd_id: str) -> bool:
    """Administrators everywhere; a fasilitator for the OPDs it is assigned."""
    return actor.has("administrator") or ("fasilitator" in actor.roles
                                          and opd_id in actor.opd_scope)


def register(uow, actor: Principal, data: dict, reason: str) -> dict:
    if not may_maintain(actor, data["opd_id"]):
        raise Forbidden("hanya administrator atau fasilitator OPD ini", field="opd_id")
    _only_admin_writes_confidential(actor, data)
    if uow.execute("SELECT 1 FROM employees WHERE nip = :n", {"n": data["nip"]}).first():
        raise EmployeeExists(f"pegawai {data['nip']} sudah terdaftar", field="nip")
    employee = domain.Employee()
    _save(uow, employee, 0, _checked(domain.register, data), reason)
    return view_for(actor, employee)


def _only_admin_writes_confidential(actor: Principal, values: dict) -> None:
    """Confidential fields (health notes) are written by administrators only (Pergub 73/2020)."""
    touched = sorted(set(values) & domain.CONFIDENTIAL_FIELDS)
    if touched and not actor.has("administrator"):
        raise Forbidden(f"{touched[0]} adalah data rahasia: hanya diisi administrator",
                        field=touched[0])


def view_for(actor: Principal, employee: domain.Employee) -> dict:
    return employee.view(confidential=actor.has("administrator"))


def get(uow, actor: Principal, nip: str, as_of=None) -> dict:
    employee = _load(uow, nip, as_of)
    opd = employee.data["opd_id"]
    if not (actor.account_id == nip or actor.has("administrator", "auditor")
            or ("fasilitator" in actor.roles and opd in actor.opd_scope)):
        # the same answer as "absent": no probing of other OPDs
        raise NotFound(f"pegawai {nip} tidak ditemukan", field="nip")
    return view_for(actor, employee)


def record_history(uow, actor: Principal, nip: str, data: dict) -> dict:
    employee = _load(uow, nip)
    if data["history"] in domain.CONFIDENTIAL_HISTORIES and not actor.has("administrator"):
        raise Forbidden("data rahasia hanya diisi administrator", field="history")
    if not may_maintain(actor, employee.data["opd_id"]):
        raise NotFound(f"pegawai {nip} tidak ditemukan", field="nip")
    changes = _checked(domain.record_history, employee, data["history"],
                       data.get("entry_id") or str(uuid.uuid4()), data["entry"],
                       data.get("documents", []))
    _save(uow, employee, data["expected_version"], changes, data.get("reason"))
    return view_for(actor, employee)


def propose(uow, actor: Principal, nip: str, data: dict) -> dict:
    """Only the pegawai proposes changes to their own record."""
    if actor.account_id != nip:
        raise Forbidden("usulan perubahan hanya oleh pegawai yang bersangkutan", field="nip")
    employee = _load(uow, nip)
    change_id = str(uuid.uuid4())
    _save(uow, employee, employee.version,
          _checked(domain.propose, employee, change_id, data["changes"],
                   data.get("documents", [])), "usulan pegawai")
    return {**view_for(actor, employee), "change_id": change_id}


def decide(uow, actor: Principal, nip: str, data: dict) -> dict:
    employee = _load(uow, nip)
    if not may_maintain(actor, employee.data["opd_id"]):
        raise NotFound(f"pegawai {nip} tidak ditemukan", field="nip")
    if actor.account_id == nip:
        raise Forbidden("perubahan data sendiri diverifikasi orang lain", field="nip")
    proposal = employee.pending.get(data["change_id"])
    if proposal is not None and data["apply"]:
        _only_admin_writes_confidential(actor, proposal["changes"])
    changes = _checked(domain.decide, employee, data["change_id"], data["apply"],
                       data["reason"])
    _save(uow, employee, data["expected_version"], changes, data["reason"])
    return view_for(actor, employee)


def field_history(uow, actor: Principal, nip: str, field: str) -> list[dict]:
    """Every value one data pokok field has had, when, by whom and why."""
    get(uow, actor, nip)  # the same read rights as the record
    if field in domain.CONFIDENTIAL_FIELDS and not actor.has("administrator"):
        raise NotFound(f"kolom {field} tidak ditemukan", field="field")
    out = []
    for event in uow.read_stream(domain.stream_for(nip)):
        if event.event_type == "EmployeeRegistered" and field in event.payload:
            value = event.payload[field]
        elif event.event_type == "DataPokokChanged" and field in event.payload["changes"]:
            value = event.payload["changes"][field]
        else:
            continue
        out.append({"version": event.version, "recorded_at": event.recorded_at, "value": value,
                    "actor_id": event.metadata.get("actor_id"),
                    "actor_role": event.metadata.get("actor_role"),
                    "reason": event.metadata.get("reason")})
    return out
