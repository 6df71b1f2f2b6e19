"""Records use cases: each function is one command or query in one unit of work. The employee
is rebuilt from `employee:<NIP>`; the `employees` table is a projection written in the same
transaction. Who may do what is decided here, not only at the gateway."""

from __future__ import annotations

import re
import uuid
from datetime import date

from marshmallow import ValidationError

from services.records import documents, domain, outcomes, projection
from services.records.exceptions import (
    DocumentNotOwned,
    EmployeeExists,
    InstansiForbidden,
    RecordRejected,
)
from shared.auth import Principal
from shared.contracts.records import HISTORY_ENTRIES
from shared.errors import Forbidden, NotFound, ValidationFailed
from shared.eventstore import NO_STREAM, NewEvent
from shared.reference import PROVINCE, instansi

#: history entry ids of an applied outcome derive from the request: the same decree, the same ids
_OUTCOME_ENTRIES = uuid.UUID("0c6e2f1a-5b7d-4e39-9a21-7f4d3b8c6e15")


def _staged(uow):
    """The batch staging this unit of work's employee writes (usecases/staging.py), or None:
    the same use cases then read its cached employees and leave their events to its flush."""
    return getattr(uow, "staged", None)


def _load(uow, nip: str, as_of=None) -> domain.Employee:
    if not (len(nip) == 18 and nip.isascii() and nip.isdigit()):
        raise NotFound(f"pegawai {nip[:40]} tidak ditemukan", field="nip")
    staged = _staged(uow)
    if staged is not None and as_of is None:
        employee = staged.employee(nip)
    else:
        events = uow.read_stream(domain.stream_for(nip), as_of=as_of)
        employee = domain.replay_employee(events) if events else None
    if employee is None:
        raise NotFound(f"pegawai {nip} tidak ditemukan", field="nip")
    return employee


def _save(uow, employee: domain.Employee, expected: int, changes, reason: str | None) -> None:
    stream_id = domain.stream_for(employee.nip or changes[0][1]["nip"])
    events = [NewEvent(t, p) for t, p in changes]
    staged = _staged(uow)
    if staged is not None:
        staged.save(uow, stream_id, employee, expected if expected else NO_STREAM, events,
                    reason)
        return
    uow.append(stream_id, "Employee", expected if expected else NO_STREAM, events,
               reason=reason)
    for event_type, payload in changes:
        employee.apply(event_type, payload)
    with uow.dbapi.cursor() as cur:
        cur.execute(projection.UPSERT.format(schema=uow.store.schema),
                    projection.row_for(employee))


def _stored_instansi(uow, nip: str) -> str | None:
    """The instansi of the employee registered under `nip`, None when there is none."""
    staged = _staged(uow)
    if staged is not None:
        return staged.instansi(nip)
    row = uow.execute("SELECT instansi FROM employees WHERE nip = :n", {"n": nip}).first()
    return None if row is None else row[0]


def _checked(fn, *args):
    try:
        return fn(*args)
    except domain.RuleViolation as exc:
        raise RecordRejected.from_problems(exc.problems) from None


# -- who may write whom: the instansi first, then the OPD --------------------------------------

#: a kabupaten/kota's machine actor: identity's client of the region (`kabkota-3507`, role
#: machine) or the sync service applying that region's change (`sync:3507`, usecases/regions.py)
_REGION_ACTOR = re.compile(r"^(?:kabkota-|sync:)(35\d\d)$")


def region_of(actor: Principal) -> str | None:
    """The kab/kota whose employees this machine actor writes; None for everyone else."""
    if "machine" not in actor.roles:
        return None
    match = _REGION_ACTOR.match(actor.account_id)
    code = match.group(1) if match else None
    return code if code in instansi() and code != PROVINCE else None


def may_maintain(actor: Principal, opd_id: str, instansi_code: str = PROVINCE) -> bool:
    """Administrators everywhere; a region's machine actor its own instansi's employees; a
    fasilitator the OPDs it is assigned, all of them the province's (a provincial OPD scope
    never reaches a kab/kota employee, whatever their unit is called)."""
    region = region_of(actor)
    if region is not None:
        return instansi_code == region
    if actor.has("administrator"):
        return True
    return ("fasilitator" in actor.roles and instansi_code == PROVINCE
            and opd_id in actor.opd_scope)


def may_read(actor: Principal, nip: str, data: dict) -> bool:
    """The pegawai themselves, BKD's administrators and auditors, services; otherwise whoever
    may maintain the record."""
    return (actor.account_id == nip or actor.has("administrator", "auditor", "system")
            or may_maintain(actor, data["opd_id"], domain.instansi_of(data)))


def _maintainable(actor: Principal, employee: domain.Employee) -> None:
    """Refuse a write to a record outside the actor's reach: a region hears that the employee
    is another instansi's (its feed is quarantined with that reason); a person hears "absent",
    as for a read (no probing of other OPDs)."""
    code = domain.instansi_of(employee.data)
    if may_maintain(actor, employee.data["opd_id"], code):
        return
    if region_of(actor) is not None:
        raise InstansiForbidden(f"pegawai {employee.nip} bukan pegawai "
                                f"{instansi()[region_of(actor)]['short']}", field="nip")
    raise NotFound(f"pegawai {employee.nip} tidak ditemukan", field="nip")


def register(uow, actor: Principal, data: dict, reason: str) -> dict:
    code = domain.instansi_of(data)
    if not may_maintain(actor, data["opd_id"], code):
        if region_of(actor) is not None or code != PROVINCE:
            raise InstansiForbidden("hanya administrator atau instansi pegawai itu sendiri",
                                    field="instansi")
        raise Forbidden("hanya administrator atau fasilitator OPD ini", field="opd_id")
    _only_admin_writes_confidential(actor, data)
    stored = _stored_instansi(uow, data["nip"])
    if stored is not None:
        if region_of(actor) is not None and stored != code:
            raise InstansiForbidden(f"NIP {data['nip']} terdaftar pada instansi lain",
                                    field="nip")
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
    if not may_read(actor, nip, employee.data):
        # the same answer as "absent": no probing of other OPDs
        raise NotFound(f"pegawai {nip} tidak ditemukan", field="nip")
    return view_for(actor, employee)


def full_record_for_rules(uow, actor: Principal, nip: str) -> dict:
    """The whole record (confidential parts included) for another service's rules — e.g. the
    requests service's eligibility checks — on behalf of someone who may read this employee.
    Internal only: no gateway route returns it; callers never pass it on."""
    get(uow, actor, nip)  # read rights first (NotFound otherwise)
    return _load(uow, nip).view(confidential=True)


def record_history(uow, actor: Principal, nip: str, data: dict) -> dict:
    employee = _load(uow, nip)
    if data["history"] in domain.CONFIDENTIAL_HISTORIES and not actor.has("administrator"):
        raise Forbidden("data rahasia hanya diisi administrator", field="history")
    _maintainable(actor, employee)
    check_documents(uow, nip, data.get("documents"))
    changes = _checked(domain.record_history, employee, data["history"],
                       data.get("entry_id") or str(uuid.uuid4()), data["entry"],
                       data.get("documents", []))
    _save(uow, employee, data["expected_version"], changes, data.get("reason"))
    return view_for(actor, employee)


def current_version(uow, nip: str) -> int:
    """The record's version now (0: no such employee), for a writer that does not name one."""
    staged = _staged(uow)
    if staged is not None:
        return staged.version(nip)
    return uow.store.stream_version(uow.dbapi, domain.stream_for(nip))


def change_data_pokok(uow, actor: Principal, nip: str, changes: dict, reason: str) -> dict:
    """Data pokok changed at once by whoever is authoritative for it — a region for its own
    employees (usecases/regions.py) — checked as a registration is; nothing different: no
    event."""
    employee = _load(uow, nip)
    _maintainable(actor, employee)
    _only_admin_writes_confidential(actor, changes)
    events = _checked(domain.change_data_pokok, employee, changes)
    if events:
        _save(uow, employee, employee.version, events, reason)
    return view_for(actor, employee)


def propose(uow, actor: Principal, nip: str, data: dict) -> dict:
    """Only the pegawai proposes changes to their own record."""
    if actor.account_id != nip:
        raise Forbidden("usulan perubahan hanya oleh pegawai yang bersangkutan", field="nip")
    employee = _load(uow, nip)
    check_documents(uow, nip, data.get("documents"))
    change_id = str(uuid.uuid4())
    _save(uow, employee, employee.version,
          _checked(domain.propose, employee, change_id, data["changes"],
                   data.get("documents", [])), "usulan pegawai")
    return {**view_for(actor, employee), "change_id": change_id}


def decide(uow, actor: Principal, nip: str, data: dict) -> dict:
    employee = _load(uow, nip)
    _maintainable(actor, employee)
    if actor.account_id == nip:
        raise Forbidden("perubahan data sendiri diverifikasi orang lain", field="nip")
    proposal = employee.pending.get(data["change_id"])
    if proposal is not None and data["apply"]:
        _only_admin_writes_confidential(actor, proposal["changes"])
    changes = _checked(domain.decide, employee, data["change_id"], data["apply"],
                       data["reason"])
    _save(uow, employee, data["expected_version"], changes, data["reason"])
    return view_for(actor, employee)


def apply_layanan_outcome(uow, request_id: str, completed: dict) -> dict | None:
    """A completed layanan (requests' RequestCompleted v2): what its decree changes, applied to
    the employee's record through the records rules and appended as one LayananOutcomeApplied
    (in the consumer's transaction, beside its `consumed` row). Nothing to apply: a confidential
    procedure withheld from the bus (hukuman disiplin: an administrator records it), a request
    completed before outcomes were captured, a layanan that changes nothing, or a request
    already applied. A decree that cannot be applied raises (unknown employee, a broken rule):
    the consumer dead-letters it with the reason. Returns the event's payload when applied."""
    if completed.get("withheld") or completed.get("confidential"):
        return None
    layanan = completed.get("layanan")
    if layanan is None or layanan in outcomes.NO_CHANGE:
        return None
    if not completed.get("decree_number") or not completed.get("decree_date"):
        raise RecordRejected(f"usulan {request_id} selesai tanpa nomor atau tanggal SK: hasilnya "
                             "tidak dapat dicatat", field="decree_number")
    employee = _load(uow, str(completed.get("nip") or ""))
    if request_id in employee.outcomes:
        return None  # the same decree again (republished under another position)
    decree = outcomes.Decree(
        request_id=request_id, layanan=layanan, number=completed["decree_number"],
        date=date.fromisoformat(str(completed["decree_date"])[:10]),
        output_sha256=completed["output_sha256"],
        document_id=str(completed["document_id"]) if completed.get("document_id") else None,
        options=dict(completed.get("options") or {}),
        outcome=dict(completed.get("outcome") or {}))
    try:
        outcome = outcomes.changes_for(employee, decree)
    except domain.RuleViolation as exc:
        # the dead letter says every reason, each with its code, and which decree it was
        rejected = RecordRejected.from_problems(exc.problems)
        rejected.message = (f"hasil {layanan} (SK {decree.number}, usulan {request_id}) tidak "
                            "dapat dicatat: " + "; ".join(f"{p.code}: {p.message}"
                                                          for p in exc.problems))
        raise rejected from None
    for history, entry in outcome.entries:  # the shape an entry made by hand must have
        try:
            HISTORY_ENTRIES[history]().load(entry)
        except ValidationError as exc:
            raise ValidationFailed.from_marshmallow({"entry": exc.messages}) from None
    entry_ids = [str(uuid.uuid5(_OUTCOME_ENTRIES, f"{request_id}:{i}"))
                 for i in range(len(outcome.entries))]
    event = outcomes.applied_event(decree, outcome, entry_ids)
    _save(uow, employee, employee.version, [event],
          f"{layanan} selesai: SK {decree.number} tanggal {decree.date.isoformat()}")
    return event[1]


def replace_layanan_decree(uow, request_id: str, replaced: dict) -> dict | None:
    """A re-issued decree (requests' OutputReplaced v2: a correction with a new number): the
    entries the request's outcome added cite the new decree's number, date and document from
    now on, in one LayananDecreeReplaced (in the consumer's transaction). Nothing to move, and
    no error: a confidential procedure, a replacement of before issue 13 (v1, no layanan), an
    unknown employee or an outcome never applied (dead-lettered, or a layanan that changes
    nothing), or a repeat. Returns the event's payload when appended."""
    if replaced.get("withheld") or replaced.get("confidential") or not replaced.get("layanan"):
        return None
    try:
        employee = _load(uow, str(replaced.get("nip") or ""))
    except NotFound:
        return None  # no record, so no outcome was ever applied to one
    if not replaced.get("decree_number") or not replaced.get("decree_date"):
        raise RecordRejected(f"usulan {request_id}: SK pengganti tanpa nomor atau tanggal",
                             field="decree_number")
    replacement = outcomes.Replacement(
        request_id=request_id, layanan=replaced["layanan"], number=replaced["decree_number"],
        date=date.fromisoformat(str(replaced["decree_date"])[:10]),
        output_sha256=replaced["output_sha256"],
        document_id=str(replaced["document_id"]) if replaced.get("document_id") else None)
    event = outcomes.replacement_event(employee, replacement)
    if event is None:
        return None
    previous = event[1]["previous"]["decree_number"]
    _save(uow, employee, employee.version, [event],
          f"{replacement.layanan}: SK {previous} diganti SK {replacement.number} tanggal "
          f"{replacement.date.isoformat()}")
    return event[1]


def field_history(uow, actor: Principal, nip: str, field: str) -> list[dict]:
    """Every value one data pokok field has had, when, by whom and why."""
    get(uow, actor, nip)  # the same read rights as the record
    if field in domain.CONFIDENTIAL_FIELDS and not actor.has("administrator"):
        raise NotFound(f"kolom {field} tidak ditemukan", field="field")
    out = []
    for event in uow.read_stream(domain.stream_for(nip)):
        if event.event_type == "EmployeeRegistered" and field in event.payload:
            value = event.payload[field]
        elif event.event_type in ("DataPokokChanged", "LayananOutcomeApplied") and (
                field in event.payload["changes"]):
            value = event.payload["changes"][field]
        else:
            continue
        out.append({"version": event.version, "recorded_at": event.recorded_at, "value": value,
                    "actor_id": event.metadata.get("actor_id"),
                    "actor_role": event.metadata.get("actor_role"),
                    "reason": event.metadata.get("reason")})
    return out


#: record events whose payload carries `changes` (the data pokok fields they set)
_CHANGING = ("DataPokokChanged", "ChangeProposed", "LayananOutcomeApplied")


def timeline(uow, actor: Principal, nip: str) -> list[dict]:
    """The record's history as a list of steps (issue 16: "my record and its history", the
    auditor's timelines): each event, when, by whom and why, and what it touched — field names,
    history names, a document slot — never the values (those are the record as of a date and
    `field_history`). For anyone but an administrator, a step about a confidential history or
    slot is left out and confidential field names (with the reason given) are not shown."""
    get(uow, actor, nip)  # the same read rights as the record
    everything = actor.has("administrator")
    out = []
    for event in uow.read_stream(domain.stream_for(nip)):
        payload = event.payload
        if event.event_type == "EmployeeRegistered":
            names = sorted(k for k in payload if k != "nip")
        elif event.event_type in _CHANGING:
            names = sorted(payload.get("changes") or {})
        else:
            names = []
        histories = sorted({payload["history"]} if "history" in payload else
                           {item["history"] for item in payload.get("entries") or ()
                            if "history" in item})
        slot = payload.get("slot")
        reason = event.metadata.get("reason")
        if not everything:
            if set(histories) & domain.CONFIDENTIAL_HISTORIES or (
                    slot and domain.slot_is_confidential(slot)):
                continue
            if set(names) & domain.CONFIDENTIAL_FIELDS:
                names = [n for n in names if n not in domain.CONFIDENTIAL_FIELDS]
                reason = None
        out.append({"version": event.version, "event": event.event_type,
                    "recorded_at": event.recorded_at,
                    "actor_id": event.metadata.get("actor_id"),
                    "actor_role": event.metadata.get("actor_role"), "reason": reason,
                    "fields": names, "histories": histories, "slot": slot,
                    "change_id": payload.get("change_id"),
                    "request_id": payload.get("request_id")})
    return out


# -- documents ---------------------------------------------------------------------------------
# A document belongs to the employee it was uploaded for (`document_owners`, one row per
# (sha256, nip)): records, proposals and requests link only their employee's documents, and
# every download checks the owner. The same bytes uploaded for two employees are two owned
# documents; the content checks (`documents`) are made once per hash.

def upload_owner(uow, actor: Principal, nip: str | None) -> str:
    """Whose document an upload is: a pegawai's own; staff name the employee (`nip`), who must
    be in their OPDs. Anyone else's is answered as absent, like every record outside scope."""
    if nip is None:
        if not (len(actor.account_id) == 18 and actor.account_id.isdigit()):
            raise ValidationFailed("sebutkan NIP pegawai pemilik dokumen (parameter nip)",
                                   field="nip")
        nip = actor.account_id
    employee = _load(uow, nip)
    if actor.account_id != nip:
        _maintainable(actor, employee)
    return nip


def own_if_checked(uow, actor: Principal, sha256: str, owner: str,
                   file_name: str | None) -> dict | None:
    """An upload of bytes that passed the checks before: the document of `owner` from now on
    (the first answer again if it already was); None when these bytes were never checked."""
    lock_document(uow, sha256)
    owned = _owned_rows(uow, owner, [sha256]).get(sha256)
    if owned is not None:
        return owned
    facts = _document_rows(uow, [sha256]).get(sha256)
    if facts is None:
        return None
    return _record_owner(uow, actor, facts, owner, file_name)


def record_checked(uow, actor: Principal, store, info: documents.DocumentInfo, owner: str,
                   file_name: str | None) -> dict:
    """Bytes that have just passed the checks: their facts (once per hash) and their owner."""
    lock_document(uow, info.sha256)
    facts = _document_rows(uow, [info.sha256]).get(info.sha256)  # checked meanwhile?
    if facts is None:
        if not store.exists(info.sha256):  # refused and discarded meanwhile: never link it
            raise NotFound("berkas tidak ada lagi di penyimpanan dokumen; unggah ulang",
                           field="sha256")
        facts = {"sha256": info.sha256, "kind": info.kind, "content_type": info.content_type,
                 "size": info.size, "pages": info.pages, "width": info.width,
                 "height": info.height}
        uow.execute(
            "INSERT INTO documents (sha256, kind, content_type, size, pages, width, height, "
            "file_name, uploaded_by) VALUES (:sha256, :kind, :content_type, :size, :pages, "
            ":width, :height, :file_name, :actor)",
            {**facts, "file_name": file_name and file_name[:200], "actor": actor.account_id})
    return own_if_checked(uow, actor, info.sha256, owner, file_name)


def held_for_something(uow, sha256: str) -> bool:
    """Bytes the store keeps whatever an upload of them comes to: a checked document (someone
    owns it) or an import file."""
    return uow.execute(
        "SELECT EXISTS (SELECT 1 FROM documents WHERE sha256 = :s) "
        "OR EXISTS (SELECT 1 FROM imports WHERE file_sha256 = :s)", {"s": sha256}).scalar()


def lock_document(uow, sha256: str) -> None:
    """Uploads of the same bytes take turns until their transaction ends: one owner row and one
    event per owner, and a rejected upload's cleanup never races an accepted one."""
    uow.execute("SELECT pg_advisory_xact_lock(hashtext(:key))", {"key": f"document:{sha256}"})


def _record_owner(uow, actor: Principal, facts: dict, nip: str, file_name: str | None) -> dict:
    """DocumentUploaded for one more owner, and its `document_owners` row, in one transaction."""
    event = {k: facts.get(k) for k in ("sha256", "kind", "size", "pages", "width", "height")}
    event["nip"] = nip
    if file_name:
        event["file_name"] = file_name[:200]
    uow.append(f"document:{facts['sha256']}", "Document", None,
               [NewEvent("DocumentUploaded", event)], reason="unggah dokumen")
    uow.execute(
        "INSERT INTO document_owners (sha256, nip, file_name, uploaded_by) "
        "VALUES (:sha256, :nip, :file_name, :actor)",
        {"sha256": facts["sha256"], "nip": nip, "file_name": event.get("file_name"),
         "actor": actor.account_id})
    return _owned_rows(uow, nip, [facts["sha256"]])[facts["sha256"]]


_FACTS = "d.sha256, d.kind, d.content_type, d.size, d.pages, d.width, d.height"


def _document_rows(uow, hashes) -> dict[str, dict]:
    """What the checks found the content of each hash to be, whoever owns it."""
    rows = uow.execute(f"SELECT {_FACTS} FROM documents d "  # noqa: S608 - a fixed list
                       "WHERE d.sha256 = ANY(:hashes)", {"hashes": list(hashes)}).mappings()
    return {row["sha256"]: dict(row) for row in rows}


def _owned_rows(uow, nip: str, hashes) -> dict[str, dict]:
    """The documents of employee `nip` among `hashes`, with the file name its owner gave."""
    if not hashes:
        return {}
    rows = uow.execute(
        f"SELECT {_FACTS}, o.nip, o.file_name FROM documents d "  # noqa: S608 - a fixed list
        "JOIN document_owners o ON o.sha256 = d.sha256 "
        "WHERE o.nip = :nip AND d.sha256 = ANY(:hashes)",
        {"nip": nip, "hashes": list(hashes)}).mappings()
    return {row["sha256"]: {k: v for k, v in dict(row).items() if v is not None}
            for row in rows}


def owned_document(uow, actor: Principal, nip: str, sha256: str) -> dict | None:
    """A document of employee `nip`, for someone who may read that employee's record."""
    get(uow, actor, nip)  # read rights first (NotFound otherwise)
    return _owned_rows(uow, nip, [sha256]).get(sha256)


def document_meta(uow, actor: Principal, nip: str, sha256: str) -> dict:
    """What the checks found a document of employee `nip` to be, for another service that
    serves it; absent (NotFound) unless it is theirs."""
    meta = owned_document(uow, actor, nip, sha256)
    if meta is None:
        raise NotFound("dokumen tidak ditemukan pada data pegawai ini", field="sha256")
    return meta


def documents_not_owned(uow, actor: Principal, nip: str, hashes) -> list[str]:
    """Which of `hashes` are not documents of employee `nip` (never uploaded for them, or never
    passed the checks), for someone who may read that employee's record."""
    get(uow, actor, nip)
    owned = _owned_rows(uow, nip, hashes)
    return [sha256 for sha256 in hashes if sha256 not in owned]


def check_documents(uow, nip: str, hashes, field: str = "documents[{}]") -> None:
    """Events of employee `nip` link only that employee's checked documents."""
    hashes = list(hashes or ())
    owned = _owned_rows(uow, nip, hashes)
    refused = [field.format(i) for i, sha256 in enumerate(hashes) if sha256 not in owned]
    if refused:
        raise DocumentNotOwned(
            f"dokumen belum diunggah untuk pegawai {nip} atau belum lolos pemeriksaan; "
            "unggah dokumennya untuk pegawai ini", field=refused[0],
            details={"fields": refused})


def attach_document(uow, actor: Principal, nip: str, data: dict) -> dict:
    employee = _load(uow, nip)
    _maintainable(actor, employee)
    if domain.slot_is_confidential(data["slot"]) and not actor.has("administrator"):
        raise Forbidden("dokumen rahasia hanya diisi administrator", field="slot")
    check_documents(uow, nip, [data["sha256"]], field="sha256")
    stored = _owned_rows(uow, nip, [data["sha256"]])[data["sha256"]]
    document = {"sha256": data["sha256"], "content_type": stored["content_type"],
                "size": stored["size"], "pages": stored["pages"]}
    if data.get("file_name") or stored.get("file_name"):
        document["file_name"] = data.get("file_name") or stored["file_name"]
    changes = _checked(domain.attach_document, employee, data["slot"], document)
    _save(uow, employee, data["expected_version"], changes, data["reason"])
    return view_for(actor, employee)


def authorize_download(uow, actor: Principal, nip: str, sha256: str) -> dict:
    """May `actor` fetch this document of this record? Read rights as for the record, the
    document must be linked from the record and belong to its employee, confidential ones for
    administrators only. Every granted download is logged (stream downloads:<NIP>) before the
    bytes leave."""
    employee = _load(uow, nip)
    get(uow, actor, nip)  # the same read rights as the record (NotFound otherwise)
    if not employee.may_download(sha256, confidential=actor.has("administrator")):
        raise NotFound("dokumen tidak ditemukan pada data pegawai ini", field="sha256")
    stored = _owned_rows(uow, nip, [sha256]).get(sha256)
    if stored is None:  # linked by an older release without being the employee's
        raise NotFound("dokumen tidak ditemukan pada data pegawai ini", field="sha256")
    uow.append(f"downloads:{nip}", "DocumentAccess", None,
               [NewEvent("DocumentDownloaded", {"nip": nip, "sha256": sha256})],
               reason="unduh dokumen")
    return stored
