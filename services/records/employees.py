"""Records use cases: each function is one command or query in one unit of work. The employee
is rebuilt from `employee:<NIP>`; the `employees` table is a projection written in the same
transaction. Who may do what is decided here, not only at the gateway."""

from __future__ import annotations

import uuid

from services.records import documents, domain, projection
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
    if not (actor.account_id == nip or actor.has("administrator", "auditor", "system")
            or ("fasilitator" in actor.roles and opd in actor.opd_scope)):
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
    if not may_maintain(actor, employee.data["opd_id"]):
        raise NotFound(f"pegawai {nip} tidak ditemukan", field="nip")
    check_documents(uow, data.get("documents"))
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
    check_documents(uow, data.get("documents"))
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


# -- documents ---------------------------------------------------------------------------------

def upload_document(uow, actor: Principal, store, sha256: str, file_name: str | None,
                    policy: documents.DocumentPolicy) -> dict:
    """Check a stored upload (by its bytes: PDF/JPEG/PNG, readable, not blank, not locked) and
    make it linkable; the same bytes uploaded again answer the first result."""
    known = _document_rows(uow, [sha256])
    if known:
        return known[sha256]
    if not store.exists(sha256):
        raise NotFound("berkas tidak ada di penyimpanan dokumen", field="sha256")
    info = documents.inspect(store.reader(sha256), file_name, policy=policy)
    record = {"sha256": info.sha256, "kind": info.kind, "size": info.size, "pages": info.pages,
              "width": info.width, "height": info.height}
    if file_name:
        record["file_name"] = file_name[:200]
    uow.append(f"document:{info.sha256}", "Document", None,
               [NewEvent("DocumentUploaded", record)], reason="unggah dokumen")
    uow.execute(
        "INSERT INTO documents (sha256, kind, content_type, size, pages, width, height, "
        "file_name, uploaded_by) VALUES (:sha256, :kind, :content_type, :size, :pages, :width, "
        ":height, :file_name, :actor) ON CONFLICT (sha256) DO NOTHING",
        {**record, "content_type": info.content_type, "file_name": record.get("file_name"),
         "actor": actor.account_id})
    return {**record, "content_type": info.content_type}


def _document_rows(uow, hashes) -> dict[str, dict]:
    rows = uow.execute(
        "SELECT sha256, kind, content_type, size, pages, width, height, file_name FROM documents "
        "WHERE sha256 = ANY(:hashes)", {"hashes": list(hashes)}).mappings().all()
    return {row["sha256"]: {k: v for k, v in dict(row).items() if v is not None} for row in rows}


def document_meta(uow, sha256: str) -> dict | None:
    return _document_rows(uow, [sha256]).get(sha256)


def known_documents(uow, hashes) -> set[str]:
    return set(_document_rows(uow, hashes)) if hashes else set()


def check_documents(uow, hashes, field: str = "documents") -> None:
    """Events link only documents that were uploaded and passed the checks."""
    hashes = list(hashes or ())
    known = _document_rows(uow, hashes) if hashes else {}
    missing = [i for i, sha256 in enumerate(hashes) if sha256 not in known]
    if missing:
        raise RecordRejected.from_problems([domain.Problem(
            f"{field}[{i}]", "document_unknown",
            "dokumen belum diunggah atau belum lolos pemeriksaan; unggah dahulu")
            for i in missing])


def attach_document(uow, actor: Principal, nip: str, data: dict) -> dict:
    employee = _load(uow, nip)
    if not may_maintain(actor, employee.data["opd_id"]):
        raise NotFound(f"pegawai {nip} tidak ditemukan", field="nip")
    if domain.slot_is_confidential(data["slot"]) and not actor.has("administrator"):
        raise Forbidden("dokumen rahasia hanya diisi administrator", field="slot")
    check_documents(uow, [data["sha256"]], field="sha256")
    stored = _document_rows(uow, [data["sha256"]])[data["sha256"]]
    document = {"sha256": data["sha256"], "content_type": stored["content_type"],
                "size": stored["size"], "pages": stored["pages"]}
    if data.get("file_name") or stored.get("file_name"):
        document["file_name"] = data.get("file_name") or stored["file_name"]
    changes = _checked(domain.attach_document, employee, data["slot"], document)
    _save(uow, employee, data["expected_version"], changes, data["reason"])
    return view_for(actor, employee)


def authorize_download(uow, actor: Principal, nip: str, sha256: str) -> dict:
    """May `actor` fetch this document of this record? Read rights as for the record, the
    document must be linked from the record, confidential ones for administrators only. Every
    granted download is logged (stream downloads:<NIP>) before the bytes leave."""
    employee = _load(uow, nip)
    get(uow, actor, nip)  # the same read rights as the record (NotFound otherwise)
    if not employee.may_download(sha256, confidential=actor.has("administrator")):
        raise NotFound("dokumen tidak ditemukan pada data pegawai ini", field="sha256")
    stored = _document_rows(uow, [sha256]).get(sha256)
    if stored is None:
        raise NotFound("dokumen tidak ditemukan pada data pegawai ini", field="sha256")
    uow.append(f"downloads:{nip}", "DocumentAccess", None,
               [NewEvent("DocumentDownloaded", {"nip": nip, "sha256": sha256})],
               reason="unduh dokumen")
    return stored
