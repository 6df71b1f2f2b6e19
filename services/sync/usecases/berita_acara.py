"""The meeting's berita acara: produced and signed by the signing service
(`signing.issue_document`, subject `reconciliation:<id>`, document BERITA_ACARA_REKONSILIASI),
then the reconciliation is closed.

Asked only once every difference is decided and every take_region decision went through
records (status applied, none pending): the document records what was decided and done. Three
steps, the RPC between two transactions:
1. applied -> closing (BeritaAcaraRequested): decisions no longer change, so the signed
   document says what was decided;
2. signing produces and signs it (one live document per subject: asked again, the same one);
3. closing -> closed (ReconciliationClosed, the document id on the reconciliation).
Signing is asked on the administrator's behalf (their caller token travels with the call), so
its log names who asked; the document is signed by the official named in `signer`.
Signing refuses (a signer without a certificate, a bad value): back to applied
(BeritaAcaraRefused) and the refusal answered. Signing fails transiently or has not signed yet:
the reconciliation stays closing and the same request is answered `berita_acara_not_signed`
(503); asking again finishes it."""

from __future__ import annotations

import hashlib

from services.sync import domain
from services.sync.exceptions import BeritaAcaraNotReady, BeritaAcaraNotSigned
from services.sync.usecases import STREAM_TYPE, decisions, stream
from shared.errors import SimasnError
from shared.eventstore import ANY_VERSION, NewEvent

#: decisions read at a time while the berita acara's list and digest are made
PAGE = 10_000


def produce(db, signing, actor, region: str, reconciliation_id, data: dict) -> dict:
    """The signed berita acara of the meeting (`data`: a loaded BeritaAcaraRequest); answers
    the closed reconciliation's state."""
    actor.require("administrator")
    meeting = {"date": data["meeting_date"], "place": data["place"],
               "participants": data["participants"], "notes": data.get("notes")}
    with db.transaction(reason="berita acara rekonsiliasi") as uow:
        rec = decisions.reconciliation(uow, region, reconciliation_id, lock=True)
        rid = rec["reconciliation_id"]
        if rec["status"] == domain.APPLIED:
            _closing(uow, region, rid, data)
        elif rec["status"] != domain.CLOSING:
            raise BeritaAcaraNotReady(
                "berita acara dibuat setelah semua keputusan diterapkan; rekonsiliasi "
                f"{decisions.STATUS_WORDS.get(rec['status'], rec['status'])}",
                field="reconciliation_id", details={"status": rec["status"]})
        region_name = domain.regions()[region]
        values = _values(uow, rec, region_name, meeting)
    order = {"subject": f"reconciliation:{rid}", "document_key": domain.BERITA_ACARA_KEY,
             "signer": data["signer"], "values": values}
    try:
        document = signing.issue_document(order)
    except SimasnError as exc:
        if exc.transient:
            raise
        _refused(db, region, rid, exc)
        raise
    if document.get("status") != "signed":
        raise BeritaAcaraNotSigned(
            f"berita acara {document.get('number') or ''} belum selesai ditandatangani "
            f"({document.get('status')}); kirim permintaan yang sama lagi", field="signer",
            details={"document_id": document.get("document_id"),
                     "status": document.get("status")})
    with db.transaction(reason="berita acara rekonsiliasi ditandatangani") as uow:
        rec = decisions.reconciliation(uow, region, rid, lock=True)
        if rec["status"] == domain.CLOSING:
            uow.execute("UPDATE reconciliations SET status = 'closed', closed_at = now(), "
                        "berita_acara = CAST(:d AS uuid) WHERE reconciliation_id = "
                        "CAST(:r AS uuid)", {"d": document["document_id"], "r": rid})
            uow.append(stream(region), STREAM_TYPE, ANY_VERSION, [NewEvent(
                "ReconciliationClosed", {
                    "region": region, "reconciliation_id": rid,
                    "berita_acara": document["document_id"], "number": document.get("number"),
                    "meeting_date": data["meeting_date"].isoformat(), "place": data["place"],
                    "participants": data["participants"], "signer": data["signer"],
                    "figures": decisions.figures(uow, rid)})])
        return decisions.state(uow, rid)


def _closing(uow, region: str, rid: str, data: dict) -> None:
    """applied -> closing, if nothing is left undecided or unapplied."""
    left = uow.execute(
        "SELECT count(*) FILTER (WHERE decision IS NULL), count(*) FILTER (WHERE decision = "
        "'take_region' AND applied_at IS NULL) FROM differences WHERE reconciliation_id = "
        "CAST(:r AS uuid)", {"r": rid}).one()
    if left[0] or left[1]:
        raise BeritaAcaraNotReady(
            f"masih ada {left[0]} selisih belum diputuskan dan {left[1]} keputusan belum "
            "diterapkan", field="reconciliation_id",
            details={"undecided": left[0], "not_applied": left[1]})
    uow.execute("UPDATE reconciliations SET status = 'closing' WHERE reconciliation_id = "
                "CAST(:r AS uuid)", {"r": rid})
    uow.append(stream(region), STREAM_TYPE, ANY_VERSION, [NewEvent("BeritaAcaraRequested", {
        "region": region, "reconciliation_id": rid,
        "meeting_date": data["meeting_date"].isoformat(), "place": data["place"],
        "participants": data["participants"], "signer": data["signer"]})])


def _refused(db, region: str, rid: str, exc: SimasnError) -> None:
    with db.transaction(reason="berita acara ditolak") as uow:
        rec = decisions.reconciliation(uow, region, rid, lock=True)
        if rec["status"] != domain.CLOSING:
            return
        uow.execute("UPDATE reconciliations SET status = 'applied' WHERE reconciliation_id = "
                    "CAST(:r AS uuid)", {"r": rid})
        uow.append(stream(region), STREAM_TYPE, ANY_VERSION, [NewEvent("BeritaAcaraRefused", {
            "region": region, "reconciliation_id": rid, "code": exc.code,
            "message": exc.message, "field": exc.field})])


def _values(uow, rec: dict, region_name: str, meeting: dict) -> dict:
    """The template's values: figures, the decisions (listed when few) and the SHA-256 of the
    full list in difference id order (domain.decision_line), read a page at a time."""
    rid = rec["reconciliation_id"]
    digest, listed, total, after = hashlib.sha256(), [], 0, 0
    while True:
        page = [dict(row) for row in uow.execute(
            "SELECT difference_id, kind, nip, field, decision, applied_outcome->>'status' AS "
            "outcome FROM differences WHERE reconciliation_id = CAST(:r AS uuid) AND "
            "difference_id > :a ORDER BY difference_id LIMIT :n",
            {"r": rid, "a": after, "n": PAGE}).mappings()]
        if not page:
            break
        for row in page:
            digest.update(domain.decision_line(row).encode())
        if total + len(page) <= domain.LISTED_DECISIONS:
            listed += page
        total += len(page)
        after = page[-1]["difference_id"]
    matched = (rec["figures"] or {}).get("matched")
    return domain.berita_acara_values(
        region_name=region_name, year=rec["year"], meeting=meeting,
        figures=decisions.figures(uow, rid), matched=matched, decisions=listed, total=total,
        digest=digest.hexdigest(),
        reference=f"GET /api/sync/regions/{rec['region']}/reconciliations/{rid}/decisions")
