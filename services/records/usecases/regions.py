"""A kabupaten/kota's change, applied to the records (`records.apply_region_change`, called by
the sync service once the change is in its log): through the same use cases, rules and events
as a person's change, as the region's machine actor `sync:<region>` (the event metadata says
so), and once per event id. A change comes from the region's feed (its `sequence`) or from a
reconciliation decision to take the region's value (`origin`: the reconciliation and the
difference); its region_changes row and the reason in the log say which.

- employee_registered: register_employee's body (instansi: the region's, unless it says so);
- data_pokok_changed: data pokok fields changed at once — a region is authoritative for its
  own employees, nobody verifies its change (no proposal);
- history_recorded: record_history's body (the entry id defaults to the event id, the
  expected version to the record's current one).

A region writes only its own instansi's employees (403 `instansi_forbidden`, field `nip`).
Every refusal of invalid data is a 422 whose `details.problems` lists each field (as the change
names it: `data.changes.gender`, `data.entry.tmt`), its code and its reason, so the sync service
can quarantine the change with them. An applied change leaves one `region_changes` row in its
own transaction: the same event id again answers `duplicate` and changes nothing; the same id
with other content is refused (409 `region_event_reused`)."""

from __future__ import annotations

from marshmallow import ValidationError

from services.records import schemas as records_schemas
from services.records.exceptions import DocumentNotOwned, RecordRejected, RegionEventReused
from services.records.usecases import employees
from shared.auth import Principal
from shared.contracts import records as contract
from shared.errors import Forbidden, ValidationFailed
from shared.idempotency import fingerprint
from shared.reference import instansi


def region_actor(region: str) -> Principal:
    """Who a region's change is made by: the region's machine actor, as the sync service
    presents it (never a system actor: it reads and writes its own instansi only)."""
    return Principal(f"sync:{region}", frozenset({"machine"}), frozenset())


def checked_change(caller: Principal, region, change) -> dict:
    """The change's envelope, checked: only a service (the sync service) applies a region's
    change; an invalid envelope is refused with every field named."""
    if not caller.has("system"):
        raise Forbidden("perubahan dari kabupaten/kota hanya melalui layanan sinkronisasi",
                        field="caller")
    payload = {**change, "region": region} if isinstance(change, dict) else change
    try:
        return contract.RegionChange().load(payload)
    except ValidationError as exc:
        raise _invalid(ValidationFailed, _problems_of(exc.messages, "")) from None


def apply(uow, change: dict) -> dict:
    """Apply one checked change in `uow` (whose metadata names `sync:<region>`), or answer
    `duplicate` for an event id applied before."""
    event_id = str(change["event_id"])
    # a feed change's digest is what it was before reconciliation changes existed (no origin)
    digest = fingerprint("apply_region_change", {
        k: v for k, v in change.items()
        if k != "event_id" and not (k == "origin" and v is None)})
    uow.execute("SELECT pg_advisory_xact_lock(hashtext(:key))",
                {"key": f"region-change:{event_id}"})
    row = uow.execute("SELECT nip, fingerprint, version FROM region_changes "
                      "WHERE event_id = CAST(:id AS uuid)", {"id": event_id}).first()
    if row is not None:
        if row[1] != digest:
            raise RegionEventReused(f"peristiwa {event_id} sudah diterapkan dengan isi lain",
                                    field="event_id")
        return {"status": "duplicate", "nip": row[0], "version": row[2]}
    actor = region_actor(change["region"])
    try:
        record = _APPLY[change["kind"]](uow, actor, change)
    except RecordRejected as exc:
        raise _invalid(RecordRejected, [_prefixed(p) for p in exc.details["problems"]],
                       exc.message) from None
    except DocumentNotOwned as exc:
        raise _invalid(DocumentNotOwned, [
            {"field": f"data.{name}", "code": exc.code, "message": exc.message}
            for name in exc.details["fields"]], exc.message) from None
    except ValidationFailed as exc:
        if exc.details is not None and isinstance(exc.details, dict) and (
                "problems" in exc.details):
            raise
        raise _invalid(type(exc), [{"field": f"data.{exc.field}" if exc.field else "data",
                                    "code": exc.code, "message": exc.message}]) from None
    origin = change.get("origin") or {}
    uow.execute("INSERT INTO region_changes (event_id, region, sequence, reconciliation_id, "
                "difference_id, kind, nip, fingerprint, version) VALUES (CAST(:id AS uuid), "
                ":region, :sequence, CAST(:rec AS uuid), :diff, :kind, :nip, :digest, :version)",
                {"id": event_id, "region": change["region"], "sequence": change["sequence"],
                 "rec": str(origin["reconciliation_id"]) if origin else None,
                 "diff": origin.get("difference_id"), "kind": change["kind"],
                 "nip": change["nip"], "digest": digest, "version": record["version"]})
    return {"status": "applied", "nip": change["nip"], "version": record["version"]}


def _reason(change: dict) -> str:
    region = instansi()[change["region"]]["short"]
    given = change["data"].get("reason")
    origin = change.get("origin")
    told = (f"rekonsiliasi {region} ({origin['reconciliation_id']}, selisih "
            f"{origin['difference_id']}, peristiwa {change['event_id']})" if origin else
            f"sinkronisasi {region} (urutan {change['sequence']}, peristiwa {change['event_id']})")
    return f"{told}: {given}" if isinstance(given, str) and given else told


def _load(schema, data: dict, prefix: str = "data") -> dict:
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise _invalid(ValidationFailed, _problems_of(exc.messages, prefix)) from None


def _register(uow, actor: Principal, change: dict) -> dict:
    data = _load(contract.RegionRegistration(), change["data"])  # the API contract's shape
    if data.get("nip", change["nip"]) != change["nip"]:
        raise _invalid(ValidationFailed, [{"field": "data.nip", "code": "nip_mismatch",
                                           "message": "NIP pada data berbeda dengan NIP "
                                                      "perubahan"}])
    body = {k: v for k, v in change["data"].items() if k != "reason"}
    body.update(nip=change["nip"], instansi=body.get("instansi", change["region"]))
    try:
        registration = records_schemas.registration(body)  # register_employee's own check
    except ValidationFailed as exc:
        raise _invalid(ValidationFailed, _problems_of(exc.details or {}, "data")) from None
    return employees.register(uow, actor, registration, _reason(change))


#: the fields a data_pokok_changed may carry, each checked as register_employee checks it
_POKOK_FIELDS = records_schemas.Registration(partial=True)


def _change_pokok(uow, actor: Principal, change: dict) -> dict:
    data = _load(contract.RegionDataPokok(), change["data"])
    changes = _load(_POKOK_FIELDS, data["changes"], "data.changes")
    return employees.change_data_pokok(uow, actor, change["nip"], changes, _reason(change))


def _record_history(uow, actor: Principal, change: dict) -> dict:
    data = _load(contract.RegionHistory(), change["data"])
    data.setdefault("entry_id", str(change["event_id"]))
    if data.get("expected_version") is None:
        data["expected_version"] = employees.current_version(uow, change["nip"])
    data["reason"] = _reason(change)
    return employees.record_history(uow, actor, change["nip"], data)


_APPLY = {"employee_registered": _register, "data_pokok_changed": _change_pokok,
          "history_recorded": _record_history}


# -- field-level reasons ------------------------------------------------------------------------

def _invalid(cls, problems: list[dict], message: str | None = None):
    first = problems[0] if problems else {"field": None, "message": cls.title}
    text = message or (f"{first['field']}: {first['message']}" if first["field"]
                       else first["message"])
    return cls(text, field=first["field"], details={"problems": problems})


def _prefixed(problem: dict) -> dict:
    return {**problem, "field": f"data.{problem['field']}"}


def _problems_of(messages, prefix: str) -> list[dict]:
    """marshmallow's nested messages as one problem per field (code `invalid`)."""
    out: list[dict] = []
    if isinstance(messages, dict):
        for key, value in messages.items():
            name = prefix if key == "_schema" else (f"{prefix}.{key}" if prefix else str(key))
            out += _problems_of(value, name)
    elif isinstance(messages, list):
        for item in messages:
            if isinstance(item, dict | list):
                out += _problems_of(item, prefix)
            else:
                out.append({"field": prefix or None, "code": "invalid", "message": str(item)})
    else:
        out.append({"field": prefix or None, "code": "invalid", "message": str(messages)})
    return out
