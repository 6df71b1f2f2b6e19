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
with other content is refused (409 `region_event_reused`). A region's calls take turns (one
advisory lock a call); should two regions use one event id at the same moment, the later commit
fails on the key, and the call tried again is refused 409 for that change.

`apply_region_changes` applies up to MAX_CHANGES of a region's changes in one call, each as
here, answered one by one (`apply_many`, usecases/staging.py)."""

from __future__ import annotations

from marshmallow import ValidationError

from services.records import schemas as records_schemas
from services.records.exceptions import (
    BatchTooLarge,
    DocumentNotOwned,
    RecordRejected,
    RegionEventReused,
)
from services.records.usecases import employees
from services.records.usecases.staging import EmployeeCache, StagedWrites
from shared.auth import Principal
from shared.contracts import records as contract
from shared.errors import EventPayloadInvalid, Forbidden, SimasnError, ValidationFailed
from shared.eventstore import BatchConflict
from shared.idempotency import fingerprint
from shared.reference import PROVINCE, instansi


def region_actor(region: str) -> Principal:
    """Who a region's change is made by: the region's machine actor, as the sync service
    presents it (never a system actor: it reads and writes its own instansi only)."""
    return Principal(f"sync:{region}", frozenset({"machine"}), frozenset())


#: at most this many changes in one `apply_region_changes` call (shared/contracts/records.py)
MAX_CHANGES = contract.MAX_REGION_CHANGES


def only_sync(caller: Principal) -> None:
    """Only a service (the sync service) applies a region's change."""
    if not caller.has("system"):
        raise Forbidden("perubahan dari kabupaten/kota hanya melalui layanan sinkronisasi",
                        field="caller")


def checked_change(caller: Principal, region, change) -> dict:
    """The change's envelope, checked: only a service (the sync service) applies a region's
    change; an invalid envelope is refused with every field named."""
    only_sync(caller)
    return _envelope(region, change)


def _envelope(region, change) -> dict:
    payload = {**change, "region": region} if isinstance(change, dict) else change
    try:
        return _REGION_CHANGE.load(payload)
    except ValidationError as exc:
        raise _invalid(ValidationFailed, _problems_of(exc.messages, "")) from None


def checked_region(caller: Principal, region, changes) -> str:
    """The batch's region and size, checked before any change is: the changes themselves are
    checked one by one (`apply_many`), each refusal answered for its change."""
    only_sync(caller)
    if not isinstance(changes, list):
        raise ValidationFailed("changes harus berupa daftar perubahan", field="changes")
    if len(changes) > MAX_CHANGES:
        raise BatchTooLarge(f"paling banyak {MAX_CHANGES} perubahan dalam satu panggilan; "
                            f"dikirim {len(changes)}", field="changes",
                            details={"max": MAX_CHANGES, "given": len(changes)})
    region = str(region)
    if region not in instansi() or region == PROVINCE:
        raise ValidationFailed(f"{region[:10]} bukan kode BPS kabupaten/kota Jawa Timur",
                               field="region")
    return region


def apply(uow, change: dict) -> dict:
    """Apply one checked change in `uow` (whose metadata names `sync:<region>`), or answer
    `duplicate` for an event id applied before."""
    _lock_region(uow, change["region"])
    return _apply_change(uow, change)


def _lock_region(uow, region: str) -> None:
    """A region's changes are applied one call at a time until the transaction ends, so an
    event id is looked up in `region_changes` only after every earlier call that could have
    written it committed (one lock a call, however many changes it has: the server's lock
    table is not filled with one per change)."""
    uow.execute("SELECT pg_advisory_xact_lock(hashtext(:key))",
                {"key": f"region-changes:{region}"})


def apply_many(uow, region: str, changes: list, cache: EmployeeCache | None = None) -> list[dict]:
    """Apply a region's changes in order in `uow`, each as `apply` would, answered one by one:
    applied / duplicate, refused (with the error records would have raised for it alone) or
    blocked (an earlier change of its NIP was refused in this call: its order matters, it is
    not attempted). A refusal undoes only its change; anything else (the database gone)
    raises and the caller's transaction applies nothing.

    Fast path: the changes are staged (usecases/staging.py) and written together, on
    employees read once (or taken from `cache`, when still current). Should the
    flush find an employee someone else changed meanwhile, the batch is undone to its
    savepoint and applied change by change, each in a savepoint of its own, with the same
    answers `apply` gives; so is a batch with an event the log refuses (EventPayloadInvalid,
    checked once, at the flush), which then refuses that change alone."""
    items = []
    for raw in changes:
        try:
            items.append(_envelope(region, raw))
        except ValidationFailed as exc:
            items.append(_Refused(raw, exc))
    checked = [item for item in items if not isinstance(item, _Refused)]
    _lock_region(uow, region)
    uow.execute("SAVEPOINT region_changes_batch")
    staged = StagedWrites(uow, [c["nip"] for c in checked],
                          [str(c["event_id"]) for c in checked], cache)
    uow.staged = staged
    try:
        results = _each(uow, items, savepoints=False)
        staged.flush(uow)
    except (BatchConflict, EventPayloadInvalid):
        del uow.staged
        uow.execute("ROLLBACK TO SAVEPOINT region_changes_batch")
        return _each(uow, items, savepoints=True)
    finally:
        if hasattr(uow, "staged"):
            del uow.staged
    uow.execute("RELEASE SAVEPOINT region_changes_batch")
    staged.give_back(cache)
    return results


class _Refused:
    """A change whose envelope was refused before anything was tried."""

    def __init__(self, raw, error):
        self.raw, self.error = raw, error


def _each(uow, items: list, savepoints: bool) -> list[dict]:
    results, refused_nips = [], set()
    for item in items:
        if isinstance(item, _Refused):
            raw = item.raw if isinstance(item.raw, dict) else {}
            nip = raw.get("nip") if isinstance(raw.get("nip"), str) else None
            if nip:
                refused_nips.add(nip)
            results.append(_refusal(raw.get("event_id"), nip, item.error))
            continue
        event_id, nip = str(item["event_id"]), item["nip"]
        if nip in refused_nips:
            results.append({"event_id": event_id, "status": "blocked", "nip": nip})
            continue
        if savepoints:
            uow.execute("SAVEPOINT region_change")
        try:
            answer = _apply_change(uow, item)
        except SimasnError as exc:
            if exc.transient or not 400 <= exc.http_status < 500:
                raise
            if savepoints:
                uow.execute("ROLLBACK TO SAVEPOINT region_change")
            refused_nips.add(nip)
            results.append(_refusal(event_id, nip, exc))
            continue
        if savepoints:
            uow.execute("RELEASE SAVEPOINT region_change")
        results.append({"event_id": event_id, **answer})
    return results


def _refusal(event_id, nip, exc: SimasnError) -> dict:
    return {"event_id": str(event_id) if event_id is not None else None, "status": "refused",
            "nip": nip, "error": {"code": exc.code, "status": exc.http_status,
                                  "message": exc.message, "field": exc.field,
                                  "details": exc.details}}


def _apply_change(uow, change: dict) -> dict:
    """One checked change, its event id's lock held: applied through the records use cases,
    or `duplicate` for an event id applied before (in this batch too)."""
    event_id = str(change["event_id"])
    # a feed change's digest is what it was before reconciliation changes existed (no origin)
    digest = fingerprint("apply_region_change", {
        k: v for k, v in change.items()
        if k != "event_id" and not (k == "origin" and v is None)})
    staged = getattr(uow, "staged", None)
    if staged is not None:
        row = staged.applied_change(event_id)
    else:
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
    remembered = {"id": event_id, "region": change["region"], "sequence": change.get("sequence"),
                  "rec": str(origin["reconciliation_id"]) if origin else None,
                  "diff": origin.get("difference_id"), "kind": change["kind"],
                  "nip": change["nip"], "digest": digest, "version": record["version"]}
    if staged is not None:
        staged.remember(remembered)
    else:
        uow.execute("INSERT INTO region_changes (event_id, region, sequence, reconciliation_id, "
                    "difference_id, kind, nip, fingerprint, version) VALUES (CAST(:id AS uuid), "
                    ":region, :sequence, CAST(:rec AS uuid), :diff, :kind, :nip, :digest, "
                    ":version)", remembered)
    return {"status": "applied", "nip": change["nip"], "version": record["version"]}


#: the contracts' schemas, built once (building one costs far more than a load with it)
_REGION_CHANGE = contract.RegionChange()
_REGISTRATION = contract.RegionRegistration()
_DATA_POKOK = contract.RegionDataPokok()
_HISTORY = contract.RegionHistory()


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
    data = _load(_REGISTRATION, change["data"])  # the API contract's shape
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
    data = _load(_DATA_POKOK, change["data"])
    changes = _load(_POKOK_FIELDS, data["changes"], "data.changes")
    return employees.change_data_pokok(uow, actor, change["nip"], changes, _reason(change))


def _record_history(uow, actor: Principal, change: dict) -> dict:
    data = _load(_HISTORY, change["data"])
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
