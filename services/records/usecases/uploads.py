"""An upload, from bytes the gateway stored to a document of one employee, in three steps so
that no database transaction stays open while an untrusted file is parsed:

1. whose document it is (employees.upload_owner), and whether these bytes passed the checks
   before (then the upload only adds its owner: no parse);
2. the parse, in the sandbox (sandbox.py: another process, with time and memory limits);
3. the result, recorded under the document's lock (facts once per hash, one owner row and one
   DocumentUploaded event per owner).

An upload refused at any step (a non-transient error: the content, the owner, the scope) takes
its bytes out of the store when this upload put them there (`created`) and nothing holds them
(a checked document, an import file); the refusal is an event (DocumentUploadRefused) either
way. Bytes the store held before (another upload's, a signed letter) are never deleted."""

from __future__ import annotations

import re

from services.records.documents import DocumentPolicy
from services.records.sandbox import ParseSandbox
from services.records.usecases import employees
from shared.auth import Principal
from shared.errors import NotFound, SimasnError, StoreUnavailable
from shared.eventstore import NewEvent
from shared.logging import get_logger

log = get_logger(__name__)


def upload(db, actor: Principal, store, sandbox: ParseSandbox, policy: DocumentPolicy,
           sha256: str, file_name: str | None, nip: str | None, created: bool) -> dict:
    """The stored upload `sha256` as a document of employee `nip` (see the module docstring)."""
    try:
        with db.transaction() as uow:
            owner = employees.upload_owner(uow, actor, nip)
            answer = employees.own_if_checked(uow, actor, sha256, owner, file_name)
        if answer is not None:
            return answer
        info = sandbox.inspect(_read(store, sha256, policy.max_bytes), file_name, policy)
        if info.sha256 != sha256:
            raise StoreUnavailable(f"Dokumen {sha256} rusak di penyimpanan",
                                   code="object_corrupt", field="sha256")
        with db.transaction() as uow:
            return employees.record_checked(uow, actor, store, info, owner, file_name)
    except SimasnError as exc:
        if not exc.transient:
            _refused(db, store, sha256, nip, exc, created)
        raise


def _read(store, sha256: str, max_bytes: int) -> bytes:
    """The upload's bytes, at most max_bytes + 1 of them (the parser refuses what is over)."""
    if not store.exists(sha256):
        raise NotFound("berkas tidak ada di penyimpanan dokumen", field="sha256")
    chunks = store.open(sha256)
    data = bytearray()
    try:
        for chunk in chunks:
            data += chunk
            if len(data) > max_bytes:
                break
    finally:
        close = getattr(chunks, "close", None)  # a generator: lets the store release its file
        if close is not None:
            close()
    return bytes(data[:max_bytes + 1])


def _refused(db, store, sha256: str, nip: str | None, exc: SimasnError,
             created: bool) -> None:
    reason = (exc.details or {}).get("reason") if isinstance(exc.details, dict) else None
    refusal = {"sha256": sha256, "reason": str(reason or exc.code)[:60], "discarded": False}
    if isinstance(nip, str) and re.fullmatch(r"\d{18}", nip):
        refusal["nip"] = nip
    try:
        with db.transaction() as uow:
            employees.lock_document(uow, sha256)  # an accepted upload of these bytes goes first
            refusal["discarded"] = created and not employees.held_for_something(uow, sha256)
            uow.append(f"document:{sha256}", "Document", None,
                       [NewEvent("DocumentUploadRefused", refusal)], reason="unggahan ditolak")
            if refusal["discarded"]:
                store.delete(sha256)
    except Exception:  # noqa: BLE001 - the upload's own refusal is the answer; this is logged
        log.exception("refused_upload_not_recorded", sha256=sha256)
