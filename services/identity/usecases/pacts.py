"""The integrity pact (pakta integritas, issue 17 part 5): the seed asks fasilitator and
administrators to sign one to keep information secure. A role of `domain.PACT_ROLES` works only
while the account holds a pact for it in force: `authenticate` leaves any other out of the
principal, a grant (`accounts.change_role`, an approved access request) is refused without one
and records the pact it rests on. The person signs from their own session, re-authenticated by
password: the signing service renders and signs the PDF (document PAKTA_INTEGRITAS); the
bootstrap, which cannot call signing, records a pact signed on paper. Withdrawing a pact (the
person, or its document revoked) is an access change: cached sessions are fenced at once."""

from __future__ import annotations

import datetime as dt
import uuid

from services.identity import domain
from services.identity.usecases import accounts
from shared.auth import Principal
from shared.errors import Conflict, NotFound, ValidationFailed

DOCUMENT_KEY = "PAKTA_INTEGRITAS"
#: the context identity asks signing in (a backend vouches only for a system caller)
SYSTEM = {"actor_id": "service:identity", "actor_role": "system", "actor_roles": ["system"],
          "actor_scope": []}
ROLE_TITLES = {domain.FASILITATOR: "Fasilitator OPD", domain.ADMINISTRATOR: "Administrator BKD"}

_COLUMNS = ("pact_id::text, account_id, role, opd_scope, document_id, paper_reference, "
            "signed_at, withdrawn_at, withdrawn_reason, withdrawn_at IS NULL AS in_force")

#: SQL: a role of the row `a` (accounts) that works: not a pact role, or one with a pact in force
WORKING_ROLES = (
    "ARRAY(SELECT r FROM unnest(a.roles) AS r WHERE r <> ALL(CAST(:pact_roles AS text[])) OR "
    "EXISTS (SELECT 1 FROM integrity_pacts p WHERE p.account_id = a.account_id AND p.role = r "
    "AND p.withdrawn_at IS NULL) ORDER BY r)")


def in_force(uow, account_id: str, role: str) -> str | None:
    """The pact id in force for the account's role, or None."""
    return uow.execute("SELECT pact_id::text FROM integrity_pacts WHERE account_id = :a AND "
                       "role = :r AND withdrawn_at IS NULL ORDER BY signed_at DESC LIMIT 1",
                       {"a": account_id, "r": role}).scalar()


def require(uow, account_id: str, role: str) -> str | None:
    """A grant of `role` rests on a pact in force (its id); refused without one."""
    if role not in domain.PACT_ROLES:
        return None
    pact_id = in_force(uow, account_id, role)
    if pact_id is None:
        raise Conflict(f"{account_id} belum menandatangani pakta integritas untuk peran {role}",
                       field="role", code="integrity_pact_missing")
    return pact_id


def record_paper(uow, account: domain.Account, role: str, reference: str, recorded_by: str,
                 reason: str) -> str:
    """A pact signed on paper (the bootstrap's accounts): the reference to the paper."""
    pact_id = str(uuid.uuid4())
    uow.execute("INSERT INTO integrity_pacts (pact_id, account_id, role, opd_scope, "
                "paper_reference) VALUES (CAST(:id AS uuid), :a, :r, :s, :ref)",
                {"id": pact_id, "a": account.account_id, "r": role,
                 "s": sorted(account.opd_scope) if role == domain.FASILITATOR else [],
                 "ref": reference})
    accounts.save(uow, account, [("IntegrityPactRecorded", {
        "pact_id": pact_id, "role": role, "paper_reference": reference,
        "recorded_by": recorded_by})], reason)
    return pact_id


def check_signing(uow, actor: Principal, data: dict) -> dict:
    """What the pact will say, checked before signing is asked: a staff account, a role it has
    no pact in force for, a fasilitator's OPDs."""
    account = accounts.load(uow, actor.account_id)
    if account.kind != domain.KIND_STAFF:
        raise ValidationFailed("pakta integritas hanya untuk akun staf (nama pengguna)",
                               field="role")
    role, scope = data["role"], sorted(set(data.get("opd_scope") or []))
    if in_force(uow, account.account_id, role):
        raise Conflict(f"pakta integritas untuk peran {role} sudah berlaku", field="role",
                       code="integrity_pact_in_force")
    if role == domain.FASILITATOR:
        scope = scope or sorted(account.opd_scope)
        if not scope:
            raise ValidationFailed("sebutkan OPD yang akan Anda fasilitasi", field="opd_scope")
        accounts._check_opds(scope, "opd_scope")
    else:
        scope = []
    return {"account_id": account.account_id, "display_name": account.display_name,
            "role": role, "opd_scope": scope}


def document_request(pact: dict, pact_id: str, signer: str) -> dict:
    """What identity asks signing for (shared/contracts/signing.py IssueDocument)."""
    return {"subject": f"pact:{pact_id}", "document_key": DOCUMENT_KEY, "signer": signer,
            "values": {"nama": pact["display_name"], "akun": pact["account_id"],
                       "peran": ROLE_TITLES[pact["role"]],
                       "lingkup_opd": ", ".join(pact["opd_scope"]) or "seluruh OPD",
                       "tanggal": dt.date.today().isoformat()}}


def record_signed(uow, actor: Principal, pact: dict, pact_id: str, document_id: str) -> dict:
    if in_force(uow, actor.account_id, pact["role"]):  # a second signing raced this one
        raise Conflict(f"pakta integritas untuk peran {pact['role']} sudah berlaku",
                       field="role", code="integrity_pact_in_force")
    uow.execute("INSERT INTO integrity_pacts (pact_id, account_id, role, opd_scope, "
                "document_id) VALUES (CAST(:id AS uuid), :a, :r, :s, :d)",
                {"id": pact_id, "a": actor.account_id, "r": pact["role"],
                 "s": pact["opd_scope"], "d": document_id})
    account = accounts.load(uow, actor.account_id)
    accounts.save(uow, account, [("IntegrityPactSigned", {
        "pact_id": pact_id, "role": pact["role"], "opd_scope": pact["opd_scope"],
        "document_id": document_id})], "pakta integritas ditandatangani")
    return get(uow, actor.account_id, pact_id)


def get(uow, account_id: str, pact_id: str) -> dict:
    try:
        pact_id = str(uuid.UUID(str(pact_id)))
    except ValueError:
        raise NotFound("pakta integritas tidak ditemukan", field="pact_id") from None
    row = uow.execute(f"SELECT {_COLUMNS} FROM integrity_pacts WHERE pact_id = "  # noqa: S608 - fixed columns; values bound
                      "CAST(:id AS uuid) AND account_id = :a",
                      {"id": pact_id, "a": account_id}).mappings().first()
    if row is None:
        raise NotFound("pakta integritas tidak ditemukan", field="pact_id")
    return dict(row)


def of_accounts(uow, account_ids: list[str]) -> dict[str, list[dict]]:
    """Every pact of these accounts, newest first, by account."""
    out: dict[str, list[dict]] = {}
    for row in uow.execute(f"SELECT {_COLUMNS} FROM integrity_pacts WHERE account_id = "  # noqa: S608 - fixed columns; values bound
                           "ANY(:ids) ORDER BY signed_at DESC", {"ids": account_ids}).mappings():
        out.setdefault(row["account_id"], []).append(dict(row))
    return out


def mine(uow, actor: Principal) -> list[dict]:
    return of_accounts(uow, [actor.account_id]).get(actor.account_id, [])


def withdraw(uow, actor: Principal, pact_id: str, reason: str) -> dict:
    """The person withdraws their pact: the role it carried stops working at once."""
    pact = get(uow, actor.account_id, pact_id)
    if not pact["in_force"]:
        raise Conflict("pakta integritas ini sudah ditarik", field="pact_id",
                       code="integrity_pact_withdrawn")
    _withdraw(uow, pact, "owner", reason)
    return get(uow, actor.account_id, pact["pact_id"])


def _withdraw(uow, pact: dict, cause: str, reason: str) -> None:
    uow.execute("UPDATE integrity_pacts SET withdrawn_at = now(), withdrawn_reason = :why "
                "WHERE pact_id = CAST(:id AS uuid)", {"why": reason, "id": pact["pact_id"]})
    account = accounts.load(uow, pact["account_id"])
    accounts.save(uow, account, [("IntegrityPactWithdrawn", {
        "pact_id": pact["pact_id"], "role": pact["role"], "cause": cause})], reason)


def on_document_revoked(uow, document_id: str, reason: str) -> None:
    """The signing service revoked a document: a pact signed as it no longer holds (any other
    document is none of identity's business)."""
    row = uow.execute(f"SELECT {_COLUMNS} FROM integrity_pacts WHERE document_id = :d "  # noqa: S608 - fixed columns; values bound
                      "AND withdrawn_at IS NULL FOR UPDATE", {"d": document_id}
                      ).mappings().first()
    if row is not None:
        _withdraw(uow, dict(row), "document_revoked", f"dokumen pakta dicabut: {reason}"[:500])
