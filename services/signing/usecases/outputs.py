"""The output documents as their readers and administrators use them: the work list, one
document (BKD, auditors, and the employee it concerns), a request's output, the logged download,
and an administrator's retry, revocation and re-issue (a correction: a new number, the record
read again, signed by the re-issuing administrator). Producing and signing is `issuing`'s."""

from __future__ import annotations

from services.signing import domain
from services.signing.usecases import SYSTEM, issuing
from shared.errors import NotFound, ValidationFailed
from shared.eventstore import NewEvent

STATUSES = ("pending", "waiting_key", "waiting_passphrase", "failed", "signed", "revoked",
            "superseded")


def listing(uow, actor, status: str | None, limit, filters: dict | None = None) -> list[dict]:
    """The newest documents first, of one status if given (administrators and auditors); a page
    of `limit` from `offset`, of one employee (`nip`), one kind (`document_type`) or one
    request (`request_id`) when given."""
    actor.require("administrator", "auditor")
    if status is not None and status not in STATUSES:
        raise ValidationFailed("status tidak dikenal", field="status")
    filters = filters or {}
    where, params = ["(CAST(:s AS text) IS NULL OR status = :s)"], {"s": status}
    for name in ("nip", "document_type"):
        if filters.get(name):
            where.append(f"{name} = :{name}")
            params[name] = str(filters[name])[:80]
    if filters.get("request_id"):
        where.append("request_id = CAST(:request_id AS uuid)")
        params["request_id"] = str(filters["request_id"])
    rows = uow.execute(
        f"SELECT {issuing.COLUMNS} FROM documents WHERE {' AND '.join(where)} "  # noqa: S608 - identifiers from code only; every value is a bound parameter
        "ORDER BY created_at DESC, document_id DESC LIMIT :limit OFFSET :offset",
        {**params, "limit": max(1, min(int(limit), 500)),
         "offset": max(0, int(filters.get("offset") or 0))}).mappings().all()
    return [issuing.view(dict(row)) for row in rows]


#: what an employee's own list shows: documents that were signed (one being produced, or that
#: failed, is BKD's work list; its error names officials and keys)
OWN_STATUSES = ("signed", "revoked", "superseded")


def own(uow, actor, limit: int, offset: int) -> list[dict]:
    """The caller's own signed documents (as the employee they concern), newest first: the
    web application's "my signed documents" (issue 16)."""
    rows = uow.execute(
        f"SELECT {issuing.COLUMNS} FROM documents WHERE nip = :me AND status = ANY(:st) "  # noqa: S608 - identifiers from code only; every value is a bound parameter
        "ORDER BY created_at DESC, document_id DESC LIMIT :limit OFFSET :offset",
        {"me": actor.account_id, "st": list(OWN_STATUSES), "limit": limit,
         "offset": offset}).mappings().all()
    return [issuing.view(dict(row)) for row in rows]


def opd_listing(uow, actor, query: dict) -> list[dict]:
    """The signed outputs of the caller's OPDs (a fasilitator), newest first, a page at a
    time, of one OPD, employee or kind when given; never a confidential one (a disciplinary
    decision, a written warning). An OPD outside the caller's scope: an empty page."""
    actor.require("fasilitator")
    scope = sorted(actor.opd_scope)
    if query.get("opd_id"):
        scope = [o for o in scope if o == query["opd_id"]]
    where = ["opd_id = ANY(:scope)", "NOT confidential", "status = ANY(:st)"]
    params = {"scope": scope, "st": list(OWN_STATUSES)}
    for name in ("nip", "document_type"):
        if query.get(name):
            where.append(f"{name} = :{name}")
            params[name] = str(query[name])
    rows = uow.execute(
        f"SELECT {issuing.COLUMNS} FROM documents WHERE {' AND '.join(where)} "  # noqa: S608 - identifiers from code only; every value is a bound parameter
        "ORDER BY created_at DESC, document_id DESC LIMIT :limit OFFSET :offset",
        {**params, "limit": query["limit"], "offset": query["offset"]}).mappings().all()
    return [issuing.view(dict(row)) for row in rows]


def _may_read(actor, document: dict) -> bool:
    """BKD, auditors, the employee it concerns, and the fasilitator of that employee's OPD
    once it is signed (never a confidential one)."""
    if actor.has("administrator", "auditor", "system"):
        return True
    if document["nip"] and document["nip"] == actor.account_id:
        return True
    return ("fasilitator" in actor.roles and not document["confidential"]
            and document["status"] in OWN_STATUSES
            and document["opd_id"] is not None and document["opd_id"] in actor.opd_scope)


def read(uow, actor, document_id) -> dict:
    """An output document's details: those `_may_read` names (anyone else: not found, as if
    it did not exist)."""
    document = issuing.get(uow, str(document_id)[:64])
    if not _may_read(actor, document):
        raise NotFound("dokumen tidak ditemukan", field="document_id")
    return document


def request_output(uow, actor, request_id) -> dict:
    """The output document of a request (the newest, whatever its status)."""
    row = uow.execute("SELECT document_id FROM documents WHERE subject = :s ORDER BY "
                      "created_at DESC LIMIT 1",
                      {"s": f"request:{str(request_id)[:64]}"}).first()
    if row is None:
        raise NotFound("usulan ini belum punya dokumen keluaran", field="request_id")
    return read(uow, actor, str(row[0]))


def authorize_download(db, store, actor, document_id) -> dict:
    """May the caller fetch this signed PDF? Those who may read it; the download is logged
    (committed) before the bytes leave. Returns what the gateway needs to stream it."""
    with db.transaction() as uow:
        document = read(uow, actor, document_id)
    if document["sha256"] is None:
        raise NotFound("dokumen belum ditandatangani", field="document_id")
    with db.transaction() as uow:
        uow.append(f"document-downloads:{document['document_id']}", "DocumentAccess", None,
                   [NewEvent("DocumentDownloaded", {
                       "document_id": document["document_id"], "sha256": document["sha256"],
                       "confidential": document["confidential"]})],
                   reason="unduh dokumen keluaran")
    return {"sha256": document["sha256"], "content_type": "application/pdf",
            "size": store.stat(document["sha256"]).size,
            "file_name": f"{document['document_type']}-{document['document_id'][:8]}.pdf"}


def retry(db, store, work, actor, document_id) -> dict:
    """A failed document (or one waiting for a key) tried again now, its attempts reset."""
    actor.require("administrator")
    with db.transaction() as uow:
        document = issuing.get(uow, str(document_id)[:64])
        uow.execute("UPDATE documents SET attempts = 0, runner = NULL, updated_at = now() "
                    "WHERE document_id = :id AND status IN ('failed', 'waiting_key')",
                    {"id": document["document_id"]})
    return issuing.produce_now(db, store, work, document["document_id"])


def revoke(uow, actor, document_id, reason: str, decree: str | None) -> dict:
    actor.require("administrator")
    return issuing.revoke(uow, str(document_id)[:64], reason, decree)


def reissue(db, store, work, actor, document_id, reason: str, *, context, records,
            requests) -> dict:
    """A corrected document replaces this one (new number); the old one reads superseded.
    `context` is the worker's (the record is read again as the service, then the caller's
    context is back); `records`, `requests`: RPC proxies."""
    actor.require("administrator")
    issuing.require_certificate(work, actor.account_id)
    with db.transaction() as uow:
        old = issuing.get(uow, str(document_id)[:64])
    values = _fresh_values(db, old, context, records, requests)
    with db.transaction() as uow:
        _, new_id = issuing.supersede(uow, old["document_id"], reason, actor.account_id, values)
    return issuing.produce_now(db, store, work, new_id)


def _fresh_values(db, old: dict, context, records, requests) -> dict | None:
    """What a corrected document says: the employee's record as it is now (and the
    request's options); None when the document is not about an employee."""
    if not old["nip"]:
        return None
    with db.transaction() as uow:
        previous = uow.execute("SELECT values_json FROM documents WHERE document_id = :id",
                               {"id": old["document_id"]}).scalar_one()
    caller = dict(context)
    context.update(SYSTEM)
    try:
        record = records.get_employee(old["nip"])
        options = (requests.get_request(old["request_id"]).get("options")
                   if old["request_id"] else None)
    finally:
        context.clear()
        context.update(caller)
    template = domain.template_for(old["document_key"])
    fresh = domain.context_for(template, record, {"options": options} if options else {})
    return {**previous, **{k: v for k, v in fresh.items() if v != "-"}}
