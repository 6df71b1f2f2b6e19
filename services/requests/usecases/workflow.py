"""Requests use cases: a request's way through its workflow, from draft to completion (the
catalogue's own are in catalogue.py). Each function is one command in one unit of work; who may
do what is decided here. The employee's record comes from the records service (the caller
passes it in); the catalogue entry a request was submitted under stays its entry."""

from __future__ import annotations

import uuid
from datetime import date, datetime

import orjson
from sqlalchemy.exc import IntegrityError

from services.requests import domain
from services.requests.exceptions import (
    DocumentNotOwned,
    DocumentsMissing,
    GrantPeriodNotReached,
    LayananAlreadyGranted,
    LayananInactive,
    NotEligible,
    RequestAlreadyOpen,
    TransitionRefused,
)
from services.requests.usecases import catalogue
from shared.auth import Principal
from shared.calendar import WIB, today_wib
from shared.contracts import requests as requests_contract
from shared.errors import Forbidden, NotFound, ValidationFailed
from shared.eventstore import NO_STREAM, NewEvent
from shared.idempotency import once
from shared.schemas import load


def request_stream(request_id: str) -> str:
    return f"request:{request_id}"


# -- a request -----------------------------------------------------------------------------------

def _load(uow, request_id: str) -> domain.ServiceRequest:
    try:
        request_id = str(uuid.UUID(str(request_id)))
    except ValueError:
        raise NotFound("usulan tidak ditemukan", field="request_id") from None
    events = uow.read_stream(request_stream(request_id))
    if not events:
        raise NotFound("usulan tidak ditemukan", field="request_id")
    request = domain.ServiceRequest()
    for event in events:
        request.apply(event.event_type, event.payload, event.recorded_at,
                      event.metadata.get("actor_id"))
    return request


def _may_act_for(actor: Principal, nip: str, opd_id: str) -> bool:
    return actor.account_id == nip or actor.has("administrator") or (
        "fasilitator" in actor.roles and opd_id in actor.opd_scope)


ADMIN_ONLY = "administrator"


def _may_prepare(actor: Principal, request: domain.ServiceRequest,
                 admin_only: bool = False) -> bool:
    # admin_only: a layanan only BKD submits (hukuman disiplin), decided at the draft from the
    # catalogue entry and carried by the request (`confidential`)
    """Documents and submission: the employee, whoever drafted it, or the OPD's fasilitator
    (for a BKD-only layanan: whoever drafted it, or another administrator)."""
    if admin_only:
        return actor.account_id == request.submitted_by or actor.has("administrator")
    return actor.account_id in (request.nip, request.submitted_by) or (
        "fasilitator" in actor.roles and request.opd_id in actor.opd_scope)


def _refuse_preparing(uow, actor: Principal, request: domain.ServiceRequest) -> None:
    if _may_prepare(actor, request, request.confidential):
        return
    if _visible(actor, request):
        raise Forbidden("usulan disiapkan oleh pegawai atau fasilitator OPD-nya",
                        field="actor")
    raise NotFound("usulan tidak ditemukan", field="request_id")


def _visible(actor: Principal, request: domain.ServiceRequest) -> bool:
    if actor.has("system"):
        return True  # another service's worker (e.g. signing reads what it signs); no gateway
        # principal ever carries this role
    if request.confidential and not (actor.has("administrator", "auditor")
                                     or actor.account_id == request.nip):
        return False  # a disciplinary procedure: BKD and the employee concerned
    return _may_act_for(actor, request.nip, request.opd_id) or actor.has("auditor")


def view(request: domain.ServiceRequest) -> dict:
    return {"request_id": request.request_id, "layanan": request.layanan,
            "catalogue_version": request.catalogue_version, "nip": request.nip,
            "opd_id": request.opd_id, "state": request.state,
            "state_name": domain.STATE_NAMES[request.state], "version": request.version,
            "submitted_by": request.submitted_by, "on_behalf": request.on_behalf,
            "options": request.options, "documents": request.documents,
            "returns": request.returns, "decision_reason": request.decision_reason,
            "outcome": request.outcome, "output_sha256": request.output_sha256,
            "decree_number": request.decree_number, "decree_date": request.decree_date,
            "stage_since": request.stage_since,
            "prepared_by": sorted(request.preparers)}


def _save(uow, request: domain.ServiceRequest, expected, changes, reason: str | None,
          idempotency_key: str | None = None) -> None:
    if request.confidential:
        # a disciplinary procedure: every event of it is withheld from the bus
        changes = [(t, {**p, "confidential": True}) for t, p in changes]
    uow.append(request_stream(request.request_id or changes[0][1]["request_id"]), "Request",
               NO_STREAM if expected == 0 else expected,
               [NewEvent(t, p) for t, p in changes], reason=reason)
    for event_type, payload in changes:
        request.apply(event_type, payload, None, uow.metadata.get("actor_id"))
    final = request.state in domain.FINAL
    row = {"id": request.request_id, "l": request.layanan, "cv": request.catalogue_version,
           "nip": request.nip, "opd": request.opd_id, "s": request.state, "v": request.version,
           "by": request.submitted_by, "key": idempotency_key, "final": final,
           "conf": request.confidential,
           "sub": any(event_type == "RequestSubmitted" for event_type, _ in changes)}
    if expected == 0:
        # the unique index on open requests (`requests_one_open`, migrations/002_grants.sql)
        # decides a race between two drafts: the second waits for the first to commit, finds
        # the slot taken and writes nothing
        made = uow.execute(
            "INSERT INTO requests (request_id, layanan, catalogue_version, nip, opd_id, state, "
            "version, drafted_by, idempotency_key, confidential) VALUES (:id, :l, :cv, :nip, "
            ":opd, :s, :v, :by, :key, :conf) ON CONFLICT (nip, layanan) WHERE state NOT IN "
            "('completed', 'rejected', 'withdrawn') AND NOT legacy_duplicate DO NOTHING "
            "RETURNING request_id",
            row).first()
        if made is None:
            raise _already_open(request.layanan, _open_request(uow, request.nip,
                                                               request.layanan))
    else:
        uow.execute(
            "INSERT INTO requests (request_id, layanan, catalogue_version, nip, opd_id, state, "
            "version, drafted_by, idempotency_key) VALUES (:id, :l, :cv, :nip, :opd, :s, :v, "
            ":by, :key) ON CONFLICT (request_id) DO UPDATE SET state = EXCLUDED.state, "
            "version = EXCLUDED.version, stage_since = CASE WHEN requests.state = "
            "EXCLUDED.state THEN requests.stage_since ELSE now() END, finished_at = CASE WHEN "
            ":final THEN now() END, updated_at = now(), submitted_at = COALESCE("
            "requests.submitted_at, CASE WHEN :sub THEN now() END)", row)
    if any(event_type == "RequestCompleted" for event_type, _ in changes):
        # what the employee was granted, in the transaction that records the completion
        # (granted when the completion was recorded, as migrations/002_grants.sql has it)
        uow.execute(
            "INSERT INTO grants (request_id, nip, layanan, catalogue_version, options, tmt, "
            "granted_at) SELECT :id, :nip, :l, :cv, CAST(:o AS jsonb), COALESCE(CAST(:tmt AS "
            "date), CAST(timezone('Asia/Jakarta', e.recorded_at) AS date)), e.recorded_at "
            "FROM events e WHERE e.stream_id = :stream AND e.event_type = 'RequestCompleted' "
            "ORDER BY e.version DESC LIMIT 1 ON CONFLICT (request_id) DO NOTHING",
            {**row, "o": orjson.dumps(request.options).decode(),
             "stream": request_stream(request.request_id),
             "tmt": _granted_tmt(request)})


def _granted_tmt(request: domain.ServiceRequest) -> str | None:
    """The TMT a grant counts its next period from: the decree's own (the approver's outcome,
    as records applies it), else the one the eligibility rules computed at submission."""
    decreed = (request.outcome or {}).get("tmt")
    if decreed:
        return str(decreed)
    return request.tmt.isoformat() if request.tmt else None


def _open_request(uow, nip: str, layanan_kode: str,
                  before: str | None = None) -> tuple[str, str] | None:
    """(id, state) of an open request of this layanan for this employee; with `before`, only
    one drafted before that request (of the duplicates an older release let through, the
    earliest goes first)."""
    query = ("SELECT request_id, state FROM requests WHERE nip = :nip AND layanan = :l "
             "AND state NOT IN ('completed', 'rejected', 'withdrawn')")
    if before:
        query += (" AND (created_at, request_id) < (SELECT created_at, request_id FROM "
                  "requests WHERE request_id = :before)")
    row = uow.execute(query + " ORDER BY created_at, request_id LIMIT 1",
                      {"nip": nip, "l": layanan_kode, "before": before}).first()
    return (str(row[0]), row[1]) if row else None


def _already_open(layanan_kode: str, open_request: tuple[str, str] | None) -> RequestAlreadyOpen:
    check = domain.open_request_check(layanan_kode, open_request)
    return RequestAlreadyOpen(check.message, field="layanan",
                              details={"request_id": check.request_id})


def _grants(uow, nip: str, layanan_kode: str) -> list[domain.Grant]:
    rows = uow.execute("SELECT request_id, granted_at, tmt, options::text FROM grants "
                       "WHERE nip = :nip AND layanan = :l ORDER BY granted_at",
                       {"nip": nip, "l": layanan_kode})
    return [domain.Grant(str(r[0]), today_wib(r[1]), r[2], orjson.loads(r[3])) for r in rows]


def grant_checks(uow, entry: dict, nip: str, options: dict, documents: dict,
                 tmt: date | None, today: date,
                 request_id: str | None = None) -> tuple[domain.Check, ...]:
    """The eligibility lines about earlier requests of this layanan for this employee: none
    still open (besides `request_id`, the one being submitted), and a grant made before
    allowing this one (the entry's repeat rule)."""
    open_request = _open_request(uow, nip, entry["kode"], before=request_id)
    checks = [domain.open_request_check(entry["nama"], open_request)]
    repeat = domain.repeat_check(catalogue.repeat_rule(entry), entry["nama"],
                                 _grants(uow, nip, entry["kode"]), options, documents, tmt,
                                 today)
    if repeat is not None:
        checks.append(repeat)
    return tuple(checks)


def _refuse_repeat(checks: tuple[domain.Check, ...]) -> None:
    """A draft refused for an open request or an earlier grant, with the code that says
    which."""
    for check in checks:
        if check.ok:
            continue
        details = {"request_id": check.request_id,
                   "eligible_from": check.eligible_from.isoformat() if check.eligible_from
                   else None}
        if check.rule == domain.NO_OPEN_REQUEST:
            raise RequestAlreadyOpen(check.message, field="layanan",
                                     details={"request_id": check.request_id})
        if check.rule == domain.NOT_GRANTED_BEFORE:
            raise LayananAlreadyGranted(check.message, field="layanan", details=details)
        raise GrantPeriodNotReached(check.message, field="layanan", details=details)


def refuse_documents_not_owned(nip: str, documents: dict | None, foreign) -> None:
    """A request links only its employee's documents: uploaded for them and checked. `foreign`:
    the hashes among them the records service says are not (`documents_not_owned`)."""
    foreign = set(foreign)
    refused = sorted(code for code, sha in (documents or {}).items() if sha in foreign)
    if refused:
        raise DocumentNotOwned(
            f"dokumen {refused[0]} belum diunggah untuk pegawai {nip} atau belum lolos "
            "pemeriksaan; unggah dokumennya untuk pegawai ini",
            field=f"documents.{refused[0]}", details={"documents": refused})


def create(uow, actor: Principal, data: dict, record: dict, today: date, request) -> dict:
    """`draft`, once per Idempotency-Key (`request`: the call's payload, shared/idempotency.py).
    A key in the body (older clients) is an Idempotency-Key when the header has none; the same
    body key under two different header keys at once: the other call made the request (unique
    drafter and body key, or the employee's one open request of the layanan), answered here as
    it is now."""
    body_key = data.get("idempotency_key")
    if not body_key:
        return once(uow, "create_request", request,
                    lambda: draft(uow, actor, data, record, today))
    appended = len(uow.appended)
    try:
        # a savepoint: the call that lost the race reads the winner's request in this
        # transaction (READ COMMITTED: the next statement sees the winner's commit)
        with uow.conn.begin_nested():
            return once(uow, "create_request", request,
                        lambda: draft(uow, actor, data, record, today), body_key)
    except (IntegrityError, RequestAlreadyOpen):
        del uow.appended[appended:]
        return draft(uow, actor, data, record, today)


def draft(uow, actor: Principal, data: dict, record: dict, today: date) -> dict:
    """A new request in draft: by the employee, or by a fasilitator on their behalf (recorded
    as such); the same idempotency key from the same person gives the same request. Refused
    while another request of the layanan for the employee is open, or when a grant made before
    allows no other (the entry's repeat rule)."""
    key = data.get("idempotency_key")
    if key:
        row = uow.execute("SELECT request_id FROM requests WHERE drafted_by = :a AND "
                          "idempotency_key = :k", {"a": actor.account_id, "k": key}).first()
        if row is not None:
            return view(_load(uow, str(row[0])))
    entry = catalogue.layanan(uow, data["layanan"])
    if not entry["active"]:
        raise LayananInactive(f"layanan {entry['nama']} dinonaktifkan dengan keputusan "
                              f"{entry['decree_number']} ({entry['decree_date']})",
                              field="layanan")
    nip, opd = record["nip"], record["opd_id"]
    if not _may_act_for(actor, nip, opd):
        raise NotFound(f"pegawai {nip} tidak ditemukan", field="nip")
    self_service = actor.account_id == nip
    role = "pegawai" if self_service else ("administrator" if actor.has("administrator")
                                           else "fasilitator")
    if role not in entry["submitters"]:
        raise Forbidden(f"layanan {entry['nama']} diajukan oleh "
                        f"{' atau '.join(entry['submitters'])}", field="layanan")
    _check_options(entry, data.get("options") or {})
    _refuse_repeat(grant_checks(uow, entry, nip, data.get("options") or {},
                                data.get("documents") or {},
                                domain.evaluate(entry, record, today).tmt, today))
    request_id = str(uuid.uuid4())
    payload = {"request_id": request_id, "layanan": entry["kode"],
               "catalogue_version": entry["version"], "nip": nip, "opd_id": opd,
               "drafted_by": actor.account_id, "on_behalf": not self_service,
               "options": data.get("options") or {}, "documents": data.get("documents") or {}}
    if key:
        payload["idempotency_key"] = key
    if entry["submitters"] == [ADMIN_ONLY]:
        payload["confidential"] = True
    request = domain.ServiceRequest()
    _save(uow, request, 0, [("RequestDrafted", payload)], data.get("reason") or "usulan baru",
          idempotency_key=key)
    return view(request)


def _check_options(entry: dict, options: dict) -> None:
    for name, allowed in (entry.get("options") or {}).items():
        if name not in options:
            raise ValidationFailed(f"pilih {name}: {', '.join(allowed)}",
                                   field=f"options.{name}")
    for name, value in options.items():
        allowed = entry.get("options", {}).get(name)
        if allowed is None:
            raise ValidationFailed(f"pilihan {name} tidak dikenal untuk layanan ini",
                                   field=f"options.{name}")
        if value not in allowed:
            raise ValidationFailed(f"{name} harus salah satu dari {', '.join(allowed)}",
                                   field=f"options.{name}")


def get(uow, actor: Principal, request_id: str) -> dict:
    request = _load(uow, request_id)
    if not _visible(actor, request):
        raise NotFound("usulan tidak ditemukan", field="request_id")
    return view(request)


def claims_stream(request_id: str) -> str:
    return f"request-claims:{request_id}"


def timeline(uow, actor: Principal, request_id: str) -> list[dict]:
    """The request's steps (its own stream, in version order) and, between them at the time
    they happened, the verification queue's claims on it (`version` null: a claim is no step
    of the request)."""
    request_id = get(uow, actor, request_id)["request_id"]
    steps = [{"version": e.version, "event": e.event_type, "recorded_at": e.recorded_at,
              "actor_id": e.metadata.get("actor_id"),
              "actor_role": e.metadata.get("actor_role"), "reason": e.metadata.get("reason")}
             for e in uow.read_stream(request_stream(request_id))]
    claims = [{"version": None, "event": e.event_type, "recorded_at": e.payload["claimed_at"],
               "actor_id": e.payload["claimed_by"], "actor_role": e.payload["claimed_by_role"],
               "reason": e.metadata.get("reason")}
              for e in uow.read_stream(claims_stream(request_id))]
    # a stable sort: the steps keep their version order (events of one transaction share a
    # time), a claim goes after the steps recorded before it
    return sorted(steps + claims, key=lambda line: _instant(line["recorded_at"]))


def _instant(recorded_at: str) -> datetime:
    return datetime.fromisoformat(recorded_at.replace("Z", "+00:00"))


#: the verification service's namespace for the ids of the events it makes us record
_CLAIMS = uuid.UUID("6f3a0c52-9d1e-4f7a-b8c4-2e5d7a9b1c03")


def verification_item_claimed(uow, event) -> None:
    """Verification's VerificationItemClaimed: when it is one of our requests a verifier took
    from the queue, a line on its timeline."""
    if event.payload.get("kind") == "request" and event.payload.get("request_id"):
        record_claim(uow, event.event_id, event.payload, event.recorded_at,
                     event.metadata.get("reason"))


def record_claim(uow, claimed_event_id: str, claimed: dict, recorded_at: str,
                 reason: str | None) -> None:
    """Verification's VerificationItemClaimed for one of our requests: on its timeline. The
    event id is derived from verification's, so a second delivery writes nothing (the
    consumer's `consumed` row already stops it; this holds without it too)."""
    request = _load(uow, claimed["request_id"])
    payload = {"request_id": request.request_id, "claimed_by": claimed["claimed_by"],
               "claimed_by_role": claimed["claimed_by_role"], "claimed_at": recorded_at,
               "previous_claimant": claimed.get("previous_claimant"),
               "lapsed": bool(claimed.get("lapsed"))}
    if request.confidential:
        payload["confidential"] = True
    uow.append(claims_stream(request.request_id), "RequestClaims", None,
               [NewEvent("RequestClaimed", payload,
                         event_id=str(uuid.uuid5(_CLAIMS, claimed_event_id)))],
               reason=reason or "diambil dari antrean verifikasi")


def change_documents(uow, actor: Principal, request_id: str, data: dict) -> dict:
    request = _load(uow, request_id)
    _refuse_preparing(uow, actor, request)
    if request.state not in (domain.DRAFT, domain.RETURNED):
        raise TransitionRefused(f"dokumen hanya dapat diubah pada usulan berstatus draf atau "
                                f"dikembalikan (kini {domain.STATE_NAMES[request.state]})",
                                field="state")
    _save(uow, request, data["expected_version"], [("RequestDocumentsChanged", {
        "documents": data.get("documents") or {}, "removed": data.get("removed") or []})],
        "perbaikan dokumen")
    return view(request)


def _refuse_step(actor: Principal, request: domain.ServiceRequest, event_type: str) -> None:
    """Refuse a step the request's state or four-eyes does not allow."""
    try:
        request.check(event_type)
    except domain.IllegalTransition as exc:
        raise TransitionRefused(str(exc), field="state",
                                details={"state": exc.state, "allowed": exc.allowed}) from None
    why_not = domain.four_eyes(request, actor.account_id, event_type)
    if why_not:
        raise Forbidden(why_not, field="actor")


def _transition(uow, actor: Principal, request: domain.ServiceRequest, event_type: str,
                payload: dict, expected: int, reason: str) -> dict:
    _refuse_step(actor, request, event_type)
    _save(uow, request, expected, [(event_type, {**payload, "nip": request.nip})], reason)
    return view(request)


#: rules whose explanation reveals disciplinary data: in full to the employee and BKD only
CONFIDENTIAL_RULES = frozenset({"no_penalty", "no_running_penalty"})


def mask_disciplinary(result: dict, actor: Principal, nip: str) -> dict:
    """Hukuman disiplin is confidential: others are told a disciplinary condition fails, not
    which penalty or until when."""
    if actor.has("administrator") or actor.account_id == nip:
        return result
    for check in result["checks"]:
        if check["rule"] in CONFIDENTIAL_RULES and not check["ok"]:
            check["message"] = "syarat disiplin belum terpenuhi (rincian di BKD)"
            check["eligible_from"] = None  # the day after a penalty ends tells too
            result["eligible_from"] = None
    return result


def eligibility(uow, actor: Principal, kode: str, record: dict, today: date) -> dict:
    """Is this employee eligible for this layanan today, rule by rule, and if not, when: the
    catalogue's rules on the record, then whether a request of it is still open and whether a
    grant made before allows another (a replacement or a period is decided at the draft, by
    its options)."""
    return eligibility_of(uow, actor, catalogue.layanan(uow, kode), record, today)


def eligibility_of(uow, actor: Principal, entry: dict, record: dict, today: date) -> dict:
    """`eligibility` for a catalogue entry already read (the overview reads every one)."""
    result = domain.evaluate(entry, record, today)
    result = result.with_checks(*grant_checks(uow, entry, record["nip"], {}, {}, result.tmt,
                                              today))
    answer = mask_disciplinary(result.as_dict(), actor, record["nip"])
    if entry["submitters"] == [ADMIN_ONLY] and not (actor.has("administrator")
                                                    or actor.account_id == record["nip"]):
        # a disciplinary procedure: whether one runs or ran is BKD's and the employee's to know
        answer["checks"] = [c for c in answer["checks"] if c["rule"] not in GRANT_RULES]
        answer["eligible"] = all(c["ok"] for c in answer["checks"])
    # the documents this employee needs (conditions on options are decided at the draft)
    answer["documents_required"] = [
        {"code": d["code"], "nama": d["nama"]}
        for d in domain.check_documents(entry, record, {}, {}).required]
    return answer


GRANT_RULES = frozenset({domain.NO_OPEN_REQUEST, domain.NOT_GRANTED_BEFORE, domain.GRANT_PERIOD})


def submit(uow, actor: Principal, request_id: str, data: dict, record: dict,
           today: date) -> dict:
    """Submitted only when the employee is eligible under the request's catalogue version and
    every required document is there; otherwise refused saying which rule or document."""
    request = _load(uow, request_id)
    _refuse_preparing(uow, actor, request)
    entry = catalogue.catalogue_version(uow, request.layanan, request.catalogue_version)
    result = domain.evaluate(entry, record, today)
    result = result.with_checks(*grant_checks(uow, entry, request.nip, request.options,
                                              request.documents, result.tmt, today,
                                              request_id=request.request_id))
    if not result.eligible:
        explained = mask_disciplinary(result.as_dict(), actor, request.nip)
        failing = [c for c in explained["checks"] if not c["ok"]]
        raise NotEligible("belum memenuhi syarat: " + "; ".join(c["message"] for c in failing),
                          field="eligibility", details=explained)
    documents = domain.check_documents(entry, record, request.options, request.documents)
    if documents.missing:
        raise DocumentsMissing(
            "dokumen wajib belum diunggah: " + ", ".join(d["nama"] for d in documents.missing),
            field="documents", details={"missing": [d["code"] for d in documents.missing]})
    if documents.unexpected:
        raise ValidationFailed(f"dokumen {documents.unexpected[0]} tidak diminta layanan ini",
                               field="documents")
    return _transition(uow, actor, request, "RequestSubmitted",
                       {"eligibility": result.as_dict(),
                        "resubmission": request.state == domain.RETURNED,
                        "layanan": request.layanan, "nip": request.nip,
                        "opd_id": request.opd_id, "sla_hari_kerja": entry["sla_hari_kerja"]},
                       data["expected_version"], data.get("reason") or "diajukan")


def withdraw(uow, actor: Principal, request_id: str, data: dict) -> dict:
    request = _load(uow, request_id)
    allowed = {request.submitted_by} if request.confidential else {request.nip,
                                                                         request.submitted_by}
    if actor.account_id not in allowed:
        if _visible(actor, request):
            raise Forbidden("hanya pegawai atau pengaju yang dapat menarik usulan", field="actor")
        raise NotFound("usulan tidak ditemukan", field="request_id")
    return _transition(uow, actor, request, "RequestWithdrawn", {"reason": data["reason"]},
                       data["expected_version"], data["reason"])


def _verifier(uow, actor: Principal, request: domain.ServiceRequest) -> None:
    if actor.has("administrator"):
        return
    if not _visible(actor, request):
        raise NotFound("usulan tidak ditemukan", field="request_id")
    if "fasilitator" in actor.roles and request.opd_id in actor.opd_scope:
        if not request.confidential:
            return
        raise Forbidden("usulan ini diverifikasi BKD", field="role")
    raise NotFound("usulan tidak ditemukan", field="request_id")


def start_verification(uow, actor: Principal, request_id: str, data: dict) -> dict:
    request = _load(uow, request_id)
    _verifier(uow, actor, request)
    return _transition(uow, actor, request, "VerificationStarted",
                       {"verifier": actor.account_id}, data["expected_version"], "verifikasi")


def return_for_correction(uow, actor: Principal, request_id: str, data: dict) -> dict:
    request = _load(uow, request_id)
    _verifier(uow, actor, request)
    if request.actors.get("VerificationStarted") not in (None, actor.account_id):
        raise Forbidden("usulan ini sedang diverifikasi orang lain", field="actor")
    payload = {"documents": data["documents"]}
    if data.get("note"):
        payload["note"] = data["note"]
    return _transition(uow, actor, request, "RequestReturned", payload,
                       data["expected_version"], data.get("note") or "dikembalikan")


def verify(uow, actor: Principal, request_id: str, data: dict) -> dict:
    request = _load(uow, request_id)
    _verifier(uow, actor, request)
    if request.actors.get("VerificationStarted") not in (None, actor.account_id):
        raise Forbidden("usulan ini sedang diverifikasi orang lain", field="actor")
    try:
        request.check("RequestVerified")  # the state first: verdicts on a draft mean nothing
    except domain.IllegalTransition as exc:
        raise TransitionRefused(str(exc), field="state",
                                details={"state": exc.state, "allowed": exc.allowed}) from None
    missing = sorted(set(request.documents) - set(data["checks"]))
    extra = sorted(set(data["checks"]) - set(request.documents))
    if missing or extra:
        raise ValidationFailed(
            "nilai setiap dokumen usulan, dan hanya dokumen usulan"
            + (f"; belum dinilai: {', '.join(missing)}" if missing else "")
            + (f"; bukan dokumen usulan: {', '.join(extra)}" if extra else ""),
            field="checks", details={"missing": missing, "unknown": extra})
    failing = sorted(code for code, verdict in data["checks"].items()
                     if not (verdict["original"] and verdict["legible"]
                             and verdict["matches_record"]))
    if failing:
        raise ValidationFailed(
            f"dokumen {', '.join(failing)} tidak memenuhi: kembalikan usulan untuk perbaikan "
            "atau laporkan dokumen tidak asli", field="checks", details={"failing": failing})
    return _transition(uow, actor, request, "RequestVerified", {"checks": data["checks"]},
                       data["expected_version"], data.get("reason") or "terverifikasi")


def decide(uow, actor: Principal, request_id: str, data: dict) -> dict:
    request = _load(uow, request_id)
    if not actor.has("administrator"):
        if _visible(actor, request):
            raise Forbidden("persetujuan usulan oleh administrator BKD", field="role")
        raise NotFound("usulan tidak ditemukan", field="request_id")
    event = "RequestApproved" if data["approve"] else "RequestRejected"
    payload = {"reason": data["reason"]}
    _refuse_step(actor, request, event)  # the state and four-eyes before the outcome's fields
    if data["approve"]:
        payload["outcome"] = decree_outcome(request.layanan, data.get("outcome") or {})
    elif data.get("outcome"):
        raise ValidationFailed("isi keputusan hanya dicatat pada persetujuan", field="outcome")
    view_after = _transition(uow, actor, request, event, payload,
                             data["expected_version"], data["reason"])
    if data["approve"]:
        entry = catalogue.catalogue_version(uow, request.layanan, request.catalogue_version)
        _save(uow, request, request.version, [("SigningStarted", {"output": entry["output"],
                                                                   "nip": request.nip})],
              "dokumen keluaran disiapkan untuk ditandatangani")
        view_after = view(request)
    return view_after


def decree_outcome(layanan: str, outcome: dict) -> dict:
    """What the approver records of the decree for this layanan, checked against the layanan's
    contract (shared/contracts/requests.py OUTCOMES); dates as ISO strings, as events hold
    them. A missing or malformed value is refused naming `outcome.<field>`."""
    loaded = load(requests_contract.outcome_schema(layanan), {"outcome": outcome})["outcome"]
    return {k: v.isoformat() if isinstance(v, date) else v for k, v in loaded.items()}


def _decree_date(request: domain.ServiceRequest) -> str | None:
    """The date the signing service prints on the decree: the day signing started (WIB)."""
    if not request.signing_started_at:
        return None
    return _instant(request.signing_started_at).astimezone(WIB).date().isoformat()


def complete(uow, actor: Principal, request_id: str, data: dict) -> dict:
    """The signed output is stored: the request is complete (the signing service's
    DocumentSigned, consumed here; or an administrator). Completing again with the same output
    is a no-op. RequestCompleted carries all a consumer needs to apply the outcome to the
    record: layanan, options, the approver's outcome and the decree's number and date."""
    request = _load(uow, request_id)
    if not actor.has("administrator", "system"):
        raise NotFound("usulan tidak ditemukan", field="request_id")
    if request.state == domain.COMPLETED and request.output_sha256 == data["output_sha256"]:
        return view(request)
    decree_date = data.get("decree_date")
    payload = {"output_sha256": data["output_sha256"], "request_id": request.request_id,
               "layanan": request.layanan, "opd_id": request.opd_id,
               "options": request.options, "outcome": request.outcome,
               "decree_number": data.get("decree_number"),
               "decree_date": decree_date.isoformat() if isinstance(decree_date, date)
               else decree_date or _decree_date(request),
               "document_id": data.get("document_id")}
    return _transition(uow, actor, request, "RequestCompleted", payload,
                       data["expected_version"], "dokumen keluaran ditandatangani")


def document_signed(uow, event) -> None:
    """Signing's DocumentSigned: when it is a request's output, signed and stored, the request
    is complete (or, completed already, its output re-issued)."""
    payload = event.payload
    if payload.get("request_id") and payload.get("sha256"):
        complete_signed(uow, payload["request_id"], payload["sha256"], payload.get("number"),
                        event.stream_id.split(":", 1)[1], payload.get("document_date"),
                        payload.get("signed_at"))


def complete_signed(uow, request_id: str, output_sha256: str, number: str | None = None,
                    document_id: str | None = None, document_date: str | None = None,
                    signed_at: str | None = None) -> None:
    """The signing service signed and stored this request's output (its DocumentSigned event,
    which names the decree's number, date and document id): the request is complete. A
    completed request's new output is a re-issue (a correction with a new number): recorded
    as OutputReplaced naming the new decree and the one it replaces. A redelivery, or an
    output already recorded, changes nothing."""
    request = _load(uow, request_id)
    if request.state == domain.COMPLETED and request.output_sha256 != output_sha256:
        _save(uow, request, request.version, [("OutputReplaced", {
            "output_sha256": output_sha256, "nip": request.nip,
            "request_id": request.request_id, "layanan": request.layanan,
            "decree_number": number, "document_id": document_id,
            "decree_date": _replacement_date(document_date, signed_at),
            "previous_output_sha256": request.output_sha256,
            "previous_document_id": request.document_id})], "dokumen keluaran diganti")
        return
    if request.state != domain.SIGNING:
        return
    complete(uow, SIGNING_SERVICE, request_id,
             {"output_sha256": output_sha256, "expected_version": request.version,
              "decree_number": number, "decree_date": document_date,
              "document_id": document_id})


def _replacement_date(document_date: str | None, signed_at: str | None) -> str | None:
    """The re-issued decree's date: the one printed on it; for a DocumentSigned of before the
    date was carried, the day it was signed (WIB); None when the bus withheld both (a
    confidential document: its consumers get the number and hash only)."""
    if document_date:
        return str(document_date)[:10]
    if signed_at:
        return _instant(signed_at).astimezone(WIB).date().isoformat()
    return None


SIGNING_SERVICE = Principal("service:signing", frozenset({"system"}), frozenset())


def authorize_document(uow, actor: Principal, request_id: str, document: str,
                       owned_document) -> dict:
    """May `actor` fetch this document of this request? Whoever may see the request (the
    verifier above all), and only a document of the request's employee: `owned_document(nip,
    sha256)` answers what records knows of it, or None (a link an older release let through
    without checking whose it was). The download is logged before the bytes leave."""
    request = _load(uow, request_id)
    if not _visible(actor, request):
        raise NotFound("usulan tidak ditemukan", field="request_id")
    sha256 = request.documents.get(document)
    meta = owned_document(request.nip, sha256) if sha256 is not None else None
    if meta is None:
        raise NotFound(f"dokumen {document[:60]} tidak ada pada usulan ini", field="document")
    payload = {"request_id": request.request_id, "document": document, "sha256": sha256}
    if request.confidential:
        payload["confidential"] = True
    uow.append(f"request-downloads:{request.request_id}", "RequestDocumentAccess", None,
               [NewEvent("RequestDocumentDownloaded", payload)], reason="unduh dokumen usulan")
    return {**meta, "sha256": sha256}
