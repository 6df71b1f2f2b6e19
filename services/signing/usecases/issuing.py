"""Producing an output document: number it, render it, sign it, store it, log it.

Two transactions with the slow part between them:
1. `enqueue`: the document's row, its values (the record as it was at approval) and its number,
   taken from the type's sequence under a row lock, with a DocumentNumberAssigned event — all in
   the transaction that consumed the approval (or served the RPC). The lock is held for
   milliseconds, never while signing.
2. `run`: render, sign (pyHanko, in a real OS thread), store the PDF by its hash, then append
   DocumentSigned and mark the row signed in one transaction. A failure leaves the row to be
   tried again with the same number and the same values: a number is never given to another
   document, never repeated and never skipped.

What asks for a document: an approved request (`for_approved_request`), an issued written
warning (`for_warning`) — both run after the consuming transaction commits — and a caller of
`issue_document` (`issue`), run in the calling worker. `work` is the service's SigningWork
(services/signing/dependencies.py): the key store, the signers, the runner's name.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import uuid
from dataclasses import dataclass

import orjson
from pyhanko.pdf_utils.reader import PdfFileReader

from services.signing import bsre, domain, ltv, render
from services.signing.exceptions import NoSigningKey, SigningError
from shared.calendar import WIB
from shared.errors import Forbidden, NotFound, ValidationFailed
from shared.eventstore import NO_STREAM, NewEvent
from shared.logging import get_logger

log = get_logger(__name__)

STREAM_TYPE = "Document"
MAX_ATTEMPTS = 5
#: seconds before attempt n+1 of a failed document: 30 s, 2 min, 8 min, 32 min
BACKOFF_BASE = 30

COLUMNS = ("document_id, subject, document_key, document_type, request_id, nip, signer, as_of, "
           "values_json, confidential, number, year, seq, status, attempts, last_error, sha256, "
           "signer_name, jabatan, pades_level, signed_at, revoked_reason, revoked_at, "
           "superseded_by, created_at, opd_id")


def stream(document_id: str) -> str:
    return f"document:{document_id}"


@dataclass(frozen=True)
class Order:
    """What to produce: `subject` names what the document is for (request:<id>, case:<id>);
    one live document per subject."""

    subject: str
    document_key: str
    signer: str
    values: dict
    nip: str | None = None
    request_id: str | None = None
    as_of: str | None = None
    confidential: bool = False
    #: the OPD of the employee concerned (from the record read for it): its fasilitator may
    #: list and download the signed document
    opd_id: str | None = None


def _year(as_of: str | None) -> int:
    when = dt.datetime.fromisoformat(as_of) if as_of else dt.datetime.now(dt.UTC)
    return when.astimezone(WIB).year


def _take_number(uow, document_type: str, year: int) -> int:
    uow.execute("INSERT INTO number_sequences (document_type, year, last_seq) VALUES "
                "(:t, :y, 0) ON CONFLICT DO NOTHING", {"t": document_type, "y": year})
    return uow.execute("UPDATE number_sequences SET last_seq = last_seq + 1 WHERE "
                       "document_type = :t AND year = :y RETURNING last_seq",
                       {"t": document_type, "y": year}).scalar_one()


def enqueue(uow, order: Order) -> tuple[str, bool]:
    """The live document for `order.subject`, numbered; (document_id, created). A repeat of the
    same order (a redelivered event, a retried call) returns the existing document."""
    existing = uow.execute("SELECT document_id FROM documents WHERE subject = :s AND status "
                           "NOT IN ('revoked', 'superseded')", {"s": order.subject}).first()
    if existing is not None:
        return str(existing[0]), False
    template = domain.template_for(order.document_key)
    document_id = str(uuid.uuid4())
    year = _year(order.as_of)
    seq = _take_number(uow, template["type"], year)
    number = domain.document_number(template, seq, year)
    payload = {"subject": order.subject, "document_key": order.document_key,
               "document_type": template["type"], "number": number, "year": year, "seq": seq,
               "nip": order.nip, "request_id": order.request_id, "signer": order.signer,
               "as_of": order.as_of, "confidential": order.confidential}
    uow.append(stream(document_id), STREAM_TYPE, NO_STREAM,
               [NewEvent("DocumentNumberAssigned", payload)], reason=f"nomor {number}")
    uow.execute(
        "INSERT INTO documents (document_id, subject, document_key, document_type, request_id, "
        "nip, signer, as_of, values_json, confidential, number, year, seq, status, opd_id) "
        "VALUES (:id, :subject, :key, :type, :request, :nip, :signer, "
        "CAST(:as_of AS timestamptz), CAST(:values AS jsonb), :conf, :number, :year, :seq, "
        "'pending', :opd)",
        {"id": document_id, "subject": order.subject, "key": order.document_key,
         "type": template["type"], "request": order.request_id, "nip": order.nip,
         "signer": order.signer, "as_of": order.as_of, "values": _json(order.values),
         "conf": order.confidential, "number": number, "year": year, "seq": seq,
         "opd": order.opd_id})
    return document_id, True


def _json(value) -> str:
    return orjson.dumps(value, default=str).decode()


#: seconds between the timer's looks for documents to take over (services/signing/service.py):
#: a dead runner's document is signed again within about this long
TAKEOVER_TICK = 2

#: what the timer and a retry may take; a document waiting for its official's passphrase is
#: taken only by that official's own call (`sign_with_passphrase`)
CLAIMABLE = ("pending", "failed", "waiting_key")
WITH_PASSPHRASE = (*CLAIMABLE, "waiting_passphrase")


def claim(uow, work, document_id: str,
          statuses: tuple[str, ...] = CLAIMABLE) -> dict | None:
    """Take a document to produce, unless a live runner works on it or it is done. The claim
    is `work.locks` (shared/claims.py): a session lock held by this process until the attempt
    ends, gone the moment the process dies, however long a live one takes. The row names the
    attempt (`runner`: process and a fresh token) for the work list. Returns the row, with the
    runner under "runner"."""
    if not work.locks.try_claim(document_id):
        return None
    try:
        row = uow.execute(
            "UPDATE documents SET runner = :runner, heartbeat_at = now(), updated_at = now() "  # noqa: S608 - identifiers from code only; every value is a bound parameter
            "WHERE document_id = :id AND status = ANY(:statuses) "
            "RETURNING " + COLUMNS + ", runner",
            {"id": document_id, "runner": work.attempt(),
             "statuses": list(statuses)}).mappings().first()
    except BaseException:
        work.locks.release(document_id)
        raise
    if row is None:
        work.locks.release(document_id)
        return None
    return dict(row)


def due(uow, limit: int = 100) -> list[str]:
    """Documents to (re)try now: pending ones (a live runner's are skipped by `claim`),
    failed ones whose backoff passed, and those waiting for a signer's key."""
    rows = uow.execute(
        "SELECT document_id FROM documents WHERE status IN ('pending', 'waiting_key') OR "  # noqa: S608 - identifiers from code only; every value is a bound parameter
        f"(status = 'failed' AND attempts < {MAX_ATTEMPTS} AND updated_at < now() - "
        f"make_interval(secs => {BACKOFF_BASE} * power(4, greatest(attempts - 1, 0)))) "
        "ORDER BY created_at LIMIT :limit", {"limit": limit}).all()
    return [str(r[0]) for r in rows]


@dataclass(frozen=True)
class Produced:
    pdf: bytes
    unsigned_sha256: str
    name: str
    jabatan: str
    serial: str
    issuer: str
    pades_level: str
    signed_at: str
    #: the date printed on the document (ISO): the day it was asked for (`as_of`), in WIB
    document_date: str
    #: B-LTA: when the archive time stamp's TSA certificate ends (the renewal job's due date)
    archive_expires_at: str | None = None


def produce(row: dict, keystore, verification_base: str, sign, pades_level: str,
            credentials: dict | None = None) -> Produced:
    """Render and sign the document of `row` (no database). `sign(account_id, pdf, **options)`
    makes the signature at `pades_level` (services/signing/signers.py: in a worker process by
    default, or BSrE with the official's `credentials`, raised to that level after). The
    level recorded is the one the signed file carries."""
    template = domain.template_for(row["document_key"])
    identity = keystore.identity(row["signer"])  # NoSigningKey before any work
    now = dt.datetime.now(dt.UTC)
    document_id = str(row["document_id"])
    values = dict(row["values_json"] or {})
    approved = row["as_of"] or now
    dated = approved.astimezone(WIB).date()
    values.setdefault("tanggal", domain.tanggal(dated))
    unsigned = render.render(
        template, values, number=row["number"], document_id=document_id,
        verification_url=f"{verification_base.rstrip('/')}/{document_id}",
        place_date=f"Surabaya, {domain.tanggal(dated)}")
    signed = sign(row["signer"], unsigned, name=identity.name, jabatan=identity.jabatan,
                  reason=f"{template['title'][:120]} {row['number']}",
                  level=pades_level, **(credentials or {}))
    reader = PdfFileReader(io.BytesIO(signed))
    embedded = reader.embedded_regular_signatures[-1]
    cert = embedded.signer_cert  # the one embedded, whoever signed (key store, BSrE)
    level = ltv.level_of(reader, embedded)
    return Produced(signed, hashlib.sha256(unsigned).hexdigest(), identity.name,
                    identity.jabatan, str(cert.serial_number), cert.issuer.human_friendly[:300],
                    level, now.isoformat(), dated.isoformat(),
                    archive_expiry(signed) if level == "B-LTA" else None)


def archive_expiry(pdf: bytes) -> str | None:
    """When the last document time stamp's TSA certificate ends (ISO), or None."""
    stamps = ltv.archive_timestamps(PdfFileReader(io.BytesIO(pdf)))
    return stamps[-1]["tsa_not_after"].isoformat() if stamps else None


def record_signed(uow, row: dict, produced: Produced, stored_sha256: str) -> dict:
    """The signed PDF is stored: DocumentSigned and the row, in one transaction."""
    document_id = str(row["document_id"])
    current = uow.execute("SELECT status FROM documents WHERE document_id = :id FOR UPDATE",
                          {"id": document_id}).scalar_one()
    if current in ("signed", "completed", "revoked", "superseded"):
        return get(uow, document_id)  # another runner finished first
    payload = {"subject": row["subject"], "number": row["number"], "sha256": stored_sha256,
               "unsigned_sha256": produced.unsigned_sha256, "size": len(produced.pdf),
               "signer": row["signer"], "signer_name": produced.name,
               "jabatan": produced.jabatan, "certificate_serial": produced.serial,
               "certificate_issuer": produced.issuer, "pades_level": produced.pades_level,
               "signed_at": produced.signed_at, "document_date": produced.document_date,
               "nip": row["nip"],
               "request_id": str(row["request_id"]) if row["request_id"] else None,
               "confidential": bool(row["confidential"])}
    uow.append(stream(document_id), STREAM_TYPE, None, [NewEvent("DocumentSigned", payload)],
               reason=f"ditandatangani {produced.name}")
    uow.execute(
        "UPDATE documents SET status = 'signed', sha256 = :sha, signer_name = :name, "
        "jabatan = :jabatan, pades_level = :level, signed_at = CAST(:at AS timestamptz), "
        "archive_expires_at = CAST(:archive AS timestamptz), "
        "runner = NULL, last_error = NULL, updated_at = now() WHERE document_id = :id",
        {"sha": stored_sha256, "name": produced.name, "jabatan": produced.jabatan,
         "level": produced.pades_level, "at": produced.signed_at, "id": document_id,
         "archive": produced.archive_expires_at})
    return get(uow, document_id)


def _status_after(exc: Exception) -> str:
    if isinstance(exc, NoSigningKey):
        return "waiting_key"
    if isinstance(exc, bsre.BsreError):
        return "waiting_passphrase"  # back to the official, nothing counted against it
    return "failed"


def record_failure(uow, document_id: str, runner: str, exc: Exception) -> None:
    status = _status_after(exc)
    details = getattr(exc, "details", None)
    reason = details.get("reason") if isinstance(details, dict) else None  # for the operators
    uow.execute(
        "UPDATE documents SET status = :status, attempts = attempts + :step, last_error = :err, "
        "runner = NULL, updated_at = now() WHERE document_id = :id AND runner = :runner AND "
        "status IN ('pending', 'failed', 'waiting_key', 'waiting_passphrase')",
        {"status": status, "step": 1 if status == "failed" else 0,
         "err": (f"{type(exc).__name__}: {exc}" + (f" ({reason})" if reason else ""))[:2000],
         "id": document_id, "runner": runner})


def get(uow, document_id: str) -> dict:
    try:
        key = str(uuid.UUID(str(document_id)))
    except ValueError:
        raise NotFound("dokumen tidak ditemukan", field="document_id") from None
    row = uow.execute(f"SELECT {COLUMNS} FROM documents WHERE document_id = :id",  # noqa: S608 - identifiers from code only; every value is a bound parameter
                      {"id": key}).mappings().first()
    if row is None:
        raise NotFound("dokumen tidak ditemukan", field="document_id")
    return view(dict(row))


def view(row: dict) -> dict:
    def iso(value):
        return value.isoformat() if hasattr(value, "isoformat") else value

    template = domain.template_for(row["document_key"])
    return {"document_id": str(row["document_id"]), "subject": row["subject"],
            "document_key": row["document_key"], "document_type": row["document_type"],
            "title": template["title"], "number": row["number"],
            "request_id": str(row["request_id"]) if row["request_id"] else None,
            "nip": row["nip"], "signer": row["signer"], "signer_name": row["signer_name"],
            "jabatan": row["jabatan"], "status": row["status"], "attempts": row["attempts"],
            "last_error": row["last_error"], "sha256": row["sha256"],
            "pades_level": row["pades_level"], "signed_at": iso(row["signed_at"]),
            "as_of": iso(row["as_of"]), "revoked_reason": row["revoked_reason"],
            "revoked_at": iso(row["revoked_at"]),
            "superseded_by": str(row["superseded_by"]) if row["superseded_by"] else None,
            "confidential": bool(row["confidential"]), "created_at": iso(row["created_at"]),
            "opd_id": row.get("opd_id")}


def revoke(uow, document_id: str, reason: str, decree: str | None) -> dict:
    """A signed document is cancelled (e.g. the decree was annulled): an event with the reason;
    verification shows it from then on."""
    document = get(uow, document_id)
    if document["status"] not in ("signed", "completed"):
        raise SigningError(f"dokumen berstatus {document['status']} tidak dapat dicabut",
                           field="document_id", details={"status": document["status"]})
    payload = {"reason": reason, **({"decree": decree} if decree else {})}
    uow.append(stream(document["document_id"]), STREAM_TYPE, None,
               [NewEvent("DocumentRevoked", payload)], reason=reason)
    uow.execute("UPDATE documents SET status = 'revoked', revoked_reason = :r, revoked_at = now(), "
                "updated_at = now() WHERE document_id = :id",
                {"r": reason, "id": document["document_id"]})
    return get(uow, document["document_id"])


def supersede(uow, document_id: str, reason: str, signer: str,
              values: dict | None = None) -> tuple[dict, str]:
    """Issue a new document for the same subject (a correction): the old one is marked
    superseded by the new one, which gets its own number, `values` (the record read again;
    None keeps the old ones) and `signer` (the administrator who re-issues it).
    Returns (old, new document id)."""
    old = get(uow, document_id)
    if old["status"] not in ("signed", "completed"):
        raise SigningError(f"dokumen berstatus {old['status']} tidak dapat diganti",
                           field="document_id", details={"status": old["status"]})
    if values is None:
        values = uow.execute("SELECT values_json FROM documents WHERE document_id = :id",
                             {"id": old["document_id"]}).scalar_one()
    uow.execute("UPDATE documents SET status = 'superseded', updated_at = now() WHERE "
                "document_id = :id", {"id": old["document_id"]})
    new_id, _ = enqueue(uow, Order(subject=old["subject"], document_key=old["document_key"],
                                   signer=signer, values=values, nip=old["nip"],
                                   request_id=old["request_id"],
                                   as_of=dt.datetime.now(dt.UTC).isoformat(),
                                   confidential=old["confidential"], opd_id=old["opd_id"]))
    uow.execute("UPDATE documents SET superseded_by = :new WHERE document_id = :id",
                {"new": new_id, "id": old["document_id"]})
    uow.append(stream(old["document_id"]), STREAM_TYPE, None,
               [NewEvent("DocumentSuperseded", {"superseded_by": new_id,
                                                "number": old["number"]})], reason=reason)
    return old, new_id


# -- the work: a document produced between two transactions ----------------------------------

def run(db, store, work, document_id: str, row: dict | None = None,
        credentials: dict | None = None, raise_errors: bool = False) -> dict | None:
    """Produce one document unless someone else is on it (`row`: already claimed); a failure
    is recorded on the document and retried by the timer — and, with `raise_errors` (the
    official waiting for the answer), raised as well. Returns the document once signed.
    `credentials`: the official's passphrase (or BeSign code, `totp`) for BSrE, used for this
    attempt only. The claim is given back at the end, whatever happened."""
    if row is None:
        with db.transaction() as uow:
            row = claim(uow, work, document_id)
        if row is None:
            return None
    try:
        if getattr(work.signers, "needs_passphrase", False) and not credentials:
            raise bsre.PassphraseRequired(bsre.MESSAGES[bsre.PassphraseRequired],
                                          field="passphrase")
        produced = produce(row, work.keystore, work.verification_base, work.signers.sign,
                           _level_for(work, row), credentials)
        stored = store.put(produced.pdf, "application/pdf")
        with db.transaction() as uow:
            return record_signed(uow, row, produced, stored.sha256)
    except Exception as exc:  # noqa: BLE001 - recorded on the document, retried later
        log.warning("document_not_signed", document_id=document_id, error=str(exc))
        with db.transaction() as uow:
            record_failure(uow, document_id, row["runner"], exc)
        if raise_errors:
            raise
        return None
    finally:
        work.locks.release(document_id)


def produce_now(db, store, work, document_id: str, row: dict | None = None) -> dict:
    """Produce the document in this worker and answer it: signed, or as the attempt left
    it (failed, waiting for a key, taken by another runner)."""
    signed = run(db, store, work, document_id, row)
    if signed is not None:
        return signed
    with db.transaction() as uow:
        return get(uow, document_id)


def produce_due(db, store, work) -> None:
    """Documents a crash, a failure or a missing key left: tried again with backoff."""
    with db.transaction() as uow:
        pending = due(uow)
    for document_id in pending:
        run(db, store, work, document_id)


def _level_for(work, row: dict) -> str:
    """The PAdES level to sign `row` at (SIGNING_PADES_LEVELS); BSrE's signature is raised to
    it after BSrE made it."""
    return work.level_for(row["document_key"], row["document_type"])


def sign_with_passphrase(db, store, work, actor, document_id, passphrase: str | None, *,
                         totp: str | None = None) -> dict:
    """The signing official signs a document waiting for them, giving their BSrE passphrase
    now (SIGNING_BACKEND=bsre; with a key store the key store signs, as a retry would). Only
    the official the document names may; the passphrase is used for this one attempt and
    dropped; `totp` (the one-time code of the official's BeSign app) instead of it. A wrong
    passphrase or code, an unregistered NIK or BSrE unreachable: the error is the official's
    answer and the document waits as before. A signed document is answered as is."""
    actor.require("administrator")
    remote = getattr(work.signers, "needs_passphrase", False)
    with db.transaction() as uow:
        document = get(uow, str(document_id)[:64])
        if document["signer"] != actor.account_id:
            raise Forbidden("hanya pejabat penandatangan dokumen ini yang dapat "
                            "menandatanganinya", field="document_id")
        row = claim(uow, work, document["document_id"], WITH_PASSPHRASE)
    if row is None:  # signed already, or being signed right now: as it is
        with db.transaction() as uow:
            return get(uow, document["document_id"])
    if not remote:  # a key store (local, pkcs11) signs: a retry of the official's own
        return produce_now(db, store, work, document["document_id"], row)
    credentials = {"totp": totp} if totp else {"passphrase": passphrase}
    return run(db, store, work, document["document_id"], row, credentials=credentials,
               raise_errors=True)


def require_certificate(work, account_id: str) -> None:
    if not work.keystore.has(account_id):
        raise ValidationFailed(f"{account_id} belum punya sertifikat tanda tangan",
                               field="signer")


# -- what asks for a document ----------------------------------------------------------------

def for_approved_request(uow, work, requests, records, event) -> None:
    """The approving administrator signs the request's output; the record is read as it
    was when the request was approved (`requests`, `records`: RPC proxies, called as the
    service)."""
    request_id = event.stream_id.split(":", 1)[1]
    request = requests.get_request(request_id)
    record = records.get_employee(request["nip"], as_of=event.recorded_at)
    template = domain.template_for(request["layanan"])
    values = domain.context_for(template, record, {"options": request.get("options")})
    _enqueue_for(uow, work, event, subject=f"request:{request_id}",
                 document_key=request["layanan"], values=values, nip=request["nip"],
                 request_id=request_id, confidential=bool(event.payload.get("confidential")),
                 opd_id=(record or {}).get("opd_id"))


def for_warning(uow, work, verification, records, event) -> None:
    """A teguran tertulis an administrator issued for a document found not original: signed
    by that administrator, confidential (the employee and BKD see it)."""
    case = verification.get_case(event.payload["case_id"])
    record = records.get_employee(case["nip"], as_of=event.recorded_at)
    template = domain.template_for("TEGURAN_TERTULIS")
    values = domain.context_for(template, record, {
        "alasan": case["warning"], "dokumen": case["document"]})
    _enqueue_for(uow, work, event, subject=f"case:{case['case_id']}",
                 document_key="TEGURAN_TERTULIS", values=values, nip=case["nip"],
                 confidential=True, opd_id=(record or {}).get("opd_id"))


def _enqueue_for(uow, work, event, **order) -> None:
    """The document an event asks for, signed by whoever took the step and dated by it;
    produced once the consuming transaction has committed."""
    document_id, created = enqueue(uow, Order(
        signer=str(event.metadata.get("actor_id")), as_of=event.recorded_at, **order))
    if created:
        work.after_commit(document_id)


def issue(db, store, work, records, actor, data: dict) -> dict:
    """Produce and sign a document now (another service's output, e.g. a written warning;
    or a benchmark): answered once it is signed, or with its failure. `data` is a loaded
    IssueDocument; with a `nip`, the record's values (read as the caller) under the given."""
    actor.require("system", "administrator")
    try:
        template = domain.template_for(data["document_key"])
    except domain.UnknownOutput:
        raise ValidationFailed(f"tidak ada templat dokumen {data['document_key']}",
                               field="document_key") from None
    values, opd_id = dict(data["values"]), None
    if data.get("nip"):
        record = records.get_employee(data["nip"])
        values = {**domain.context_for(template, record, {}), **values}
        opd_id = (record or {}).get("opd_id")
    require_certificate(work, data["signer"])
    row = None
    try:
        with db.transaction() as uow:
            document_id, _ = enqueue(uow, Order(
                subject=data["subject"], document_key=data["document_key"],
                signer=data["signer"], values=values, nip=data.get("nip"),
                as_of=dt.datetime.now(dt.UTC).isoformat(), confidential=data["confidential"],
                opd_id=opd_id))
            row = claim(uow, work, document_id)
    except BaseException:
        if row is not None:  # claimed, but the document was never committed
            work.locks.release(str(row["document_id"]))
        raise
    if row is None:  # an earlier call's document, produced or being produced
        with db.transaction() as uow:
            return get(uow, document_id)
    return produce_now(db, store, work, document_id, row)
