"""Documents found not original (issue 5, "sanksi dokumen palsu"): the verifier reports the case,
a written warning (teguran tertulis, PP 94/2021 R2) is drafted for an administrator, who issues
it — then it becomes a hukuman disiplin entry on the employee's record — or dismisses it."""

from __future__ import annotations

import uuid
from datetime import date

from shared.auth import Principal
from shared.calendar import today_wib
from shared.errors import Conflict, Forbidden, NotFound, SimasnError
from shared.eventstore import NO_STREAM, NewEvent

PENALTY = "R2"  # teguran tertulis


def stream_for(case_id: str) -> str:
    return f"case:{case_id}"


def warning_text(nip: str, document: str, note: str) -> str:
    return (f"TEGURAN TERTULIS. Kepada pegawai NIP {nip}: dokumen '{document}' yang Saudara "
            f"unggah dinyatakan tidak asli oleh verifikator ({note}). Sesuai PP 94/2021, "
            "Saudara diberi teguran tertulis dan diminta mengunggah dokumen asli.")


def subject_of(requests, data: dict) -> dict:
    """The request a reported document belongs to, read over RPC with the caller's read
    rights: {nip, opd_id, submitted_by, prepared_by, sha256} (the document's digest)."""
    request = requests.get_request(data["request_id"])
    subject = {"nip": request["nip"], "opd_id": request["opd_id"],
               "submitted_by": request["submitted_by"],
               "prepared_by": request.get("prepared_by", []),
               "sha256": request["documents"].get(data["document"])}
    if subject["sha256"] is None:
        raise NotFound(f"dokumen {data['document']} tidak ada pada usulan ini",
                       field="document")
    return subject


def report(uow, actor: Principal, data: dict, subject: dict) -> dict:
    """A verifier found a document not original: the case is recorded and a written warning
    drafted for an administrator. `subject`: {nip, opd_id, submitted_by, sha256} of the
    request or record concerned."""
    if not (actor.has("administrator") or ("fasilitator" in actor.roles
                                           and subject["opd_id"] in actor.opd_scope)):
        raise NotFound("usulan atau pegawai tidak ditemukan", field="request_id")
    if actor.account_id in {subject["nip"], subject.get("submitted_by"),
                            *subject.get("prepared_by", ())}:
        raise Forbidden("yang mengunggah dokumen tidak dapat menilainya", field="actor")
    if data.get("request_id") is not None:
        data = {**data, "request_id": str(data["request_id"])}
    case_id = str(uuid.uuid4())
    text = warning_text(subject["nip"], data["document"], data["note"])
    reported = {"case_id": case_id, "nip": subject["nip"], "opd_id": subject["opd_id"],
                "request_id": data.get("request_id"), "document": data["document"],
                "sha256": subject.get("sha256"), "note": data["note"]}
    uow.append(stream_for(case_id), "Case", NO_STREAM, [
        NewEvent("FakeDocumentReported", reported),
        NewEvent("WarningDrafted", {"case_id": case_id, "penalty": PENALTY, "text": text})],
        reason=data["note"])
    uow.execute(
        "INSERT INTO cases (case_id, nip, opd_id, request_id, document, sha256, reported_by, "
        "status, warning) VALUES (:c, :nip, :opd, :r, :d, :s, :by, 'drafted', :w)",
        {"c": case_id, "nip": subject["nip"], "opd": subject["opd_id"],
         "r": data.get("request_id"), "d": data["document"], "s": subject.get("sha256"),
         "by": actor.account_id, "w": text})
    return get(uow, case_id)


def get(uow, case_id: str) -> dict:
    try:
        case_id = str(uuid.UUID(str(case_id)))
    except ValueError:
        raise NotFound("kasus tidak ditemukan", field="case_id") from None
    row = uow.execute("SELECT case_id::text, nip, opd_id, request_id::text, document, sha256, "
                      "reported_by, status, warning, reported_at, decided_by, decided_at "
                      "FROM cases WHERE case_id = :c", {"c": case_id}).mappings().first()
    if row is None:
        raise NotFound("kasus tidak ditemukan", field="case_id")
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in dict(row).items()}


def read(uow, actor: Principal, case_id: str) -> dict:
    """One case, for BKD (administrators, auditors) and the services that act on it (the
    signing service renders the written warning from it); anyone else is told it is not there."""
    if not actor.has("administrator", "auditor", "system"):
        raise NotFound("kasus tidak ditemukan", field="case_id")
    return get(uow, case_id)


def listing(uow, actor: Principal, status: str | None) -> list[dict]:
    """The cases (an administrator's list), oldest first; an unknown status lists them all."""
    actor.require("administrator")
    if status not in ("drafted", "issued", "dismissed"):
        status = None
    rows = uow.execute("SELECT case_id::text FROM cases WHERE (CAST(:s AS text) IS NULL OR "
                       "status = :s) ORDER BY reported_at LIMIT 500", {"s": status}).all()
    return [get(uow, r[0]) for r in rows]


def check_decidable(case: dict, actor: Principal) -> None:
    """An administrator other than the reporter decides a case still drafted."""
    actor.require("administrator")
    if case["status"] != "drafted":
        raise Conflict(f"kasus sudah {case['status']}", field="case_id")
    if case["reported_by"] == actor.account_id:
        raise Forbidden("pelapor tidak memutus kasusnya sendiri", field="actor")


def decide(uow, actor: Principal, case_id: str, issue: bool, reason: str,
           effective: date | None = None) -> dict:
    case = get(uow, case_id)
    check_decidable(case, actor)
    version = len(uow.read_stream(stream_for(case["case_id"])))
    if issue:
        event = NewEvent("WarningIssued", {"case_id": case["case_id"], "penalty": PENALTY,
                                           "effective": effective.isoformat()})
    else:
        event = NewEvent("CaseDismissed", {"case_id": case["case_id"], "reason": reason})
    uow.append(stream_for(case["case_id"]), "Case", version, [event], reason=reason)
    uow.execute("UPDATE cases SET status = :s, decided_by = :a, decided_at = now() "
                "WHERE case_id = :c", {"s": "issued" if issue else "dismissed",
                                       "a": actor.account_id, "c": case["case_id"]})
    return get(uow, case["case_id"])


def issue_warning(uow, actor: Principal, records, case_id: str, reason: str) -> dict:
    """Issue the drafted teguran tertulis: it goes on the employee's record (over RPC to
    records) as a hukuman disiplin entry, written first and idempotently (an entry already
    there is this case's), so a retry after a failure is safe."""
    case = get(uow, case_id)
    check_decidable(case, actor)  # before anything is written to the record
    effective = today_wib()
    record = records.get_employee(case["nip"])
    try:
        records.record_history(case["nip"], {
            "history": "hukuman_disiplin", "entry_id": f"case-{case['case_id']}",
            "entry": {"kode": PENALTY, "mulai": effective.isoformat(),
                      "alasan": f"dokumen {case['document']} tidak asli"},
            "expected_version": record["version"], "reason": reason})
    except SimasnError as exc:
        if "entry_exists" not in str(exc.details):
            raise
    return decide(uow, actor, case_id, True, reason, effective)


def dismiss(uow, actor: Principal, case_id: str, reason: str) -> dict:
    """An administrator other than the reporter finds the document original after all."""
    return decide(uow, actor, case_id, False, reason)
