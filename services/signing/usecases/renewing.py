"""Renewing archive time stamps (PAdES B-LTA): for every signed document in the store whose last
document time stamp's TSA certificate ends within SIGNING_RENEW_WINDOW_DAYS, the previous time
stamp's validation data and a fresh document time stamp are added (services/signing/ltv.py
`renew`). The PDF is a new revision — an incremental update, the signed bytes untouched — stored
under its own hash (the store is append-only); the document's hash moves to it in the same
transaction as its ArchiveTimestampRenewed event, and the previous hash is kept in
`document_revisions` so an older copy still verifies as this document (verifying.by_upload).

Run by the signing service's timer and by `simasn signing renew-timestamps`. The network part
(TSA, CA responders) runs between two transactions; a document renewed meanwhile by another
runner (its hash moved) is left as the other one made it."""

from __future__ import annotations

import datetime as dt
import hashlib
import io

from pyhanko.pdf_utils.reader import PdfFileReader

from services.signing import ltv
from services.signing.usecases import issuing
from shared.eventstore import NewEvent
from shared.logging import get_logger

log = get_logger(__name__)


def due(uow, window_days: float, limit: int = 50) -> list[dict]:
    """B-LTA documents whose archive time stamp ends within the window, soonest first."""
    rows = uow.execute(
        "SELECT document_id, sha256, archive_expires_at FROM documents WHERE pades_level = "
        "'B-LTA' AND sha256 IS NOT NULL AND (archive_expires_at IS NULL OR archive_expires_at "
        "< now() + make_interval(secs => :window)) ORDER BY archive_expires_at NULLS FIRST "
        "LIMIT :limit", {"window": window_days * 86400, "limit": limit}).mappings().all()
    return [dict(row) for row in rows]


def renew_due(db, store, renew, window_days: float, limit: int = 50) -> dict:
    """Renew what is due; `renew(pdf) -> pdf` adds the time stamp (services/signing/signers.py
    `renew`). Returns counts: renewed, skipped (the TSA's certificate would not last longer),
    failed (logged; tried again at the next run)."""
    with db.transaction() as uow:
        candidates = due(uow, window_days, limit)
    counts = {"renewed": 0, "skipped": 0, "failed": 0}
    for candidate in candidates:
        try:
            counts[renew_one(db, store, renew, candidate)] += 1
        except Exception as exc:  # noqa: BLE001 - one document's failure never stops the rest
            log.warning("archive_timestamp_not_renewed",
                        document_id=str(candidate["document_id"]), error=str(exc)[:500])
            counts["failed"] += 1
    return counts


def renew_one(db, store, renew, candidate: dict) -> str:
    previous = candidate["sha256"]
    renewed = renew(store.read(previous))
    expires = issuing.archive_expiry(renewed)
    before = candidate["archive_expires_at"]
    if before is not None and dt.datetime.fromisoformat(expires) <= before:
        # the TSA still signs with the certificate about to end: a new stamp buys nothing
        log.warning("archive_timestamp_tsa_not_renewed",
                    document_id=str(candidate["document_id"]), tsa_not_after=expires)
        return "skipped"
    stored = store.put(renewed, "application/pdf")
    if stored.sha256 != hashlib.sha256(renewed).hexdigest():
        raise RuntimeError("the document store answered another hash")
    document_id = str(candidate["document_id"])
    with db.transaction() as uow:
        current = uow.execute("SELECT sha256 FROM documents WHERE document_id = :id FOR UPDATE",
                              {"id": document_id}).scalar_one()
        if current != previous:
            return "skipped"  # another runner renewed it meanwhile
        stamps = len(ltv.archive_timestamps(PdfFileReader(io.BytesIO(renewed))))
        uow.append(issuing.stream(document_id), issuing.STREAM_TYPE, None, [NewEvent(
            "ArchiveTimestampRenewed", {
                "previous_sha256": previous, "sha256": stored.sha256, "size": len(renewed),
                "previous_expires_at": before.isoformat() if before else None,
                "archive_expires_at": expires, "timestamps": stamps})],
            reason="cap waktu arsip diperbarui")
        uow.execute("INSERT INTO document_revisions (sha256, document_id, replaced_by) VALUES "
                    "(:old, :id, :new) ON CONFLICT DO NOTHING",
                    {"old": previous, "id": document_id, "new": stored.sha256})
        uow.execute("UPDATE documents SET sha256 = :new, archive_expires_at = CAST(:exp AS "
                    "timestamptz), updated_at = now() WHERE document_id = :id",
                    {"new": stored.sha256, "exp": expires, "id": document_id})
    return "renewed"
