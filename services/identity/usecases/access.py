"""The access lifecycle of Pergub 73/2020 — "penanganan permintaan, penarikan, dan peninjauan
ulang akses pengguna": access requests decided by an administrator (never the requester),
revocation, a periodic access review signed off by an administrator, and machine clients
(kabupaten/kota, agencies with an MoU/PKS) that hold API credentials instead of passwords."""

from __future__ import annotations

import uuid

from services.identity import domain
from services.identity.dependencies import IdentityKit
from services.identity.domain import ADMINISTRATOR, AUDITOR, FASILITATOR, MACHINE, Account
from services.identity.exceptions import AccountExists, IdentityError, LoginFailed
from services.identity.security import new_token
from services.identity.usecases import accounts, pacts
from shared.auth import Principal
from shared.errors import Conflict, Forbidden, NotFound, ValidationFailed
from shared.eventstore import NO_STREAM, NewEvent
from shared.reference import domain_data

CLIENT_SCOPES = ("sync:push", "sync:read", "records:read", "agency:list", "agency:read")
#: an agreement's terms (shared/contracts/agency.py AgreementTerms), as machine_clients holds them
TERMS = ("allowed_fields", "confidential_fields", "population_instansi", "population_opds",
         "purposes", "rate_per_minute", "quota_per_day")


def _uuid(value: str, field: str) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise NotFound("tidak ditemukan", field=field) from None


# -- access requests ------------------------------------------------------------------------

def request_access(uow, actor: Principal, data: dict) -> dict:
    """An OPD (through its fasilitator) or BKD asks for someone to get a staff role."""
    actor.require(FASILITATOR, ADMINISTRATOR)
    role, scope = data["role"], sorted(set(data.get("opd_scope") or []))
    if not actor.has(ADMINISTRATOR):
        if role != FASILITATOR:
            raise Forbidden("fasilitator hanya dapat mengusulkan fasilitator", field="role")
        if not scope or not set(scope) <= actor.opd_scope:
            raise Forbidden("usulan hanya untuk OPD yang Anda kelola", field="opd_scope")
    if role == FASILITATOR and not scope:
        raise ValidationFailed("fasilitator harus ditugaskan ke minimal satu OPD",
                               field="opd_scope")
    accounts._check_opds(scope, "opd_scope")
    subject = data["subject"]
    if domain.kind_of_login(subject["login"]) != domain.KIND_STAFF:
        raise ValidationFailed("akun staf memakai nama pengguna huruf kecil, bukan NIP",
                               field="subject.login")
    request_id = str(uuid.uuid4())
    payload = {"request_id": request_id, "role": role, "opd_scope": scope,
               "subject_login": subject["login"], "subject": subject,
               "justification": data["justification"]}
    uow.append(f"access-request:{request_id}", "AccessRequest", NO_STREAM,
               [NewEvent("AccessRequested", payload)], reason=data["justification"])
    uow.execute(
        "INSERT INTO access_requests (request_id, status, role, opd_scope, subject_login, "
        "subject, justification, requested_by) VALUES (:id, 'pending', :role, :scope, :login, "
        "CAST(:subject AS jsonb), :why, :by)",
        {"id": request_id, "role": role, "scope": scope, "login": subject["login"],
         "subject": _json(subject), "why": data["justification"], "by": actor.account_id})
    return get_access_request(uow, actor, request_id)


def _json(value) -> str:
    import orjson

    return orjson.dumps(value).decode()


_REQUEST_COLUMNS = ("request_id::text, status, role, opd_scope, subject_login, subject, "
                    "justification, requested_by, requested_at, decided_by, decided_at, "
                    "decision_note")


def get_access_request(uow, actor: Principal, request_id: str) -> dict:
    row = uow.execute(f"SELECT {_REQUEST_COLUMNS} FROM access_requests WHERE request_id = "  # noqa: S608 - identifiers from code only; every value is a bound parameter
                      "CAST(:id AS uuid)", {"id": _uuid(request_id, "request_id")}
                      ).mappings().first()
    if row is None or not _may_see_request(actor, row):
        raise NotFound("permintaan akses tidak ditemukan", field="request_id")
    return dict(row)


def _may_see_request(actor: Principal, row) -> bool:
    if actor.has(ADMINISTRATOR, AUDITOR):
        return True
    return row["requested_by"] == actor.account_id or bool(set(row["opd_scope"])
                                                           & actor.opd_scope)


def list_access_requests(uow, actor: Principal, status: str | None) -> list[dict]:
    actor.require(ADMINISTRATOR, AUDITOR, FASILITATOR)
    rows = uow.execute(f"SELECT {_REQUEST_COLUMNS} FROM access_requests "  # noqa: S608 - identifiers from code only; every value is a bound parameter
                       "WHERE (CAST(:status AS text) IS NULL OR status = :status) "
                       "ORDER BY requested_at LIMIT 500", {"status": status}).mappings().all()
    return [dict(r) for r in rows if _may_see_request(actor, r)]


def decide_access(uow, kit: IdentityKit, actor: Principal, request_id: str, approve: bool,
                  note: str) -> dict:
    actor.require(ADMINISTRATOR)
    request = uow.execute(f"SELECT {_REQUEST_COLUMNS} FROM access_requests WHERE request_id = "  # noqa: S608 - identifiers from code only; every value is a bound parameter
                          "CAST(:id AS uuid) FOR UPDATE", {"id": _uuid(request_id, "request_id")}
                          ).mappings().first()
    if request is None:
        raise NotFound("permintaan akses tidak ditemukan", field="request_id")
    if request["status"] != "pending":
        raise Conflict(f"permintaan ini sudah {request['status']}", field="request_id")
    if request["requested_by"] == actor.account_id:
        raise Forbidden("pengusul tidak dapat memutuskan permintaannya sendiri (empat mata)",
                        field="request_id")
    stream = f"access-request:{request['request_id']}"
    login = request["subject_login"]
    if approve:
        _grant(uow, kit, actor, request, note)
        uow.append(stream, "AccessRequest", 1,
                   [NewEvent("AccessRequestApproved", {"account_id": login, "note": note})],
                   reason=note)
    else:
        uow.append(stream, "AccessRequest", 1,
                   [NewEvent("AccessRequestRefused", {"note": note})], reason=note)
    uow.execute("UPDATE access_requests SET status = :s, decided_by = :by, decided_at = now(), "
                "decision_note = :note WHERE request_id = CAST(:id AS uuid)",
                {"s": "approved" if approve else "refused", "by": actor.account_id,
                 "note": note, "id": request["request_id"]})
    return get_access_request(uow, actor, request["request_id"])


def _grant(uow, kit, actor, request, note) -> None:
    login = request["subject_login"]
    exists = uow.execute("SELECT kind FROM accounts WHERE account_id = :a", {"a": login}).first()
    if exists is None:
        subject = request["subject"]
        accounts.register(uow, kit, actor, {
            "login": login, "display_name": subject["display_name"], "email": subject["email"],
            "phone": subject.get("phone"), "roles": [request["role"]],
            "opd_scope": request["opd_scope"], "reason": note})
    elif exists[0] != domain.KIND_STAFF:
        raise IdentityError(f"{login} bukan akun staf", field="subject.login")
    else:
        accounts.change_role(uow, actor, login, request["role"], True,
                             list(request["opd_scope"]), note)


# -- periodic access review -------------------------------------------------------------------

def generate_review(uow, actor: Principal, stale_days: int) -> dict:
    """Every account, its roles and scope, last login, and what needs a decision."""
    actor.require(ADMINISTRATOR)
    review_id = str(uuid.uuid4())
    rows = uow.execute(
        "SELECT a.account_id, a.kind, a.roles, a.opd_scope, a.status, a.last_login_at, "
        "a.created_at, a.totp_enrolled, m.valid_until, now() AS now FROM accounts a "
        "LEFT JOIN machine_clients m ON m.client_id = a.account_id ORDER BY a.account_id"
    ).mappings().all()
    items, summary = [], {"accounts": len(rows), "by_role": {}, "by_finding": {},
                          "by_status": {}}
    signed = pacts.of_accounts(uow, [r["account_id"] for r in rows
                                     if set(r["roles"]) & set(domain.PACT_ROLES)])
    for row in rows:
        findings = _findings(row, stale_days)
        held = [_pact_item(p) for p in signed.get(row["account_id"], [])]
        if any(not any(p["role"] == role and p["withdrawn_at"] is None for p in held)
               for role in set(row["roles"]) & set(domain.PACT_ROLES)):
            # the role does not work (authenticate leaves it out) until a pact is signed
            findings.append("integrity_pact_missing")
        items.append({**{k: row[k] for k in ("account_id", "kind", "roles", "opd_scope",
                                             "status", "last_login_at", "created_at")},
                      "findings": findings, "pacts": held})
        for role in row["roles"]:
            summary["by_role"][role] = summary["by_role"].get(role, 0) + 1
        summary["by_status"][row["status"]] = summary["by_status"].get(row["status"], 0) + 1
        for finding in findings:
            summary["by_finding"][finding] = summary["by_finding"].get(finding, 0) + 1
    flagged = [{"account_id": i["account_id"], "findings": i["findings"]}
               for i in items if i["findings"]]
    uow.append(f"access-review:{review_id}", "AccessReview", NO_STREAM,
               [NewEvent("AccessReviewGenerated", {"review_id": review_id,
                                                   "stale_days": stale_days,
                                                   "summary": summary, "flagged": flagged})],
               reason="peninjauan ulang akses berkala")
    uow.execute("INSERT INTO access_reviews (review_id, generated_by, stale_days, summary) "
                "VALUES (:id, :by, :days, CAST(:summary AS jsonb))",
                {"id": review_id, "by": actor.account_id, "days": stale_days,
                 "summary": _json(summary)})
    if items:
        uow.execute(
            "INSERT INTO access_review_items (review_id, account_id, kind, roles, opd_scope, "
            "status, last_login_at, created_at, findings, pacts) VALUES (:review_id, "
            ":account_id, :kind, :roles, :opd_scope, :status, :last_login_at, :created_at, "
            ":findings, CAST(:pacts_json AS jsonb))",
            [{**i, "review_id": review_id, "pacts_json": _json(i["pacts"])} for i in items])
    return get_review(uow, actor, review_id)


def _pact_item(pact: dict) -> dict:
    """A pact as the review keeps it (JSON): what it rests on, when signed, when withdrawn."""
    return {"pact_id": pact["pact_id"], "role": pact["role"],
            "document_id": pact["document_id"], "paper_reference": pact["paper_reference"],
            "signed_at": pact["signed_at"].isoformat(),
            "withdrawn_at": pact["withdrawn_at"] and pact["withdrawn_at"].isoformat()}


def _findings(row, stale_days: int) -> list[str]:
    out = []
    age = row["now"] - row["created_at"]
    if row["status"] == "active" and row["last_login_at"] is None and age.days >= 7:
        out.append("never_used")
    if row["last_login_at"] is not None and (row["now"] - row["last_login_at"]).days > stale_days:
        out.append("stale")
    if set(row["roles"]) & domain.TOTP_ROLES and not row["totp_enrolled"]:
        out.append("no_second_factor")
    if row["kind"] == domain.KIND_MACHINE and row["valid_until"] is not None:
        days_left = (row["valid_until"] - row["now"].date()).days
        if days_left < 0:
            out.append("agreement_expired")
        elif days_left <= 30:
            out.append("agreement_expiring")
    if row["status"] == "disabled" and row["roles"]:
        out.append("disabled_with_roles")
    return out


def get_review(uow, actor: Principal, review_id: str) -> dict:
    actor.require(ADMINISTRATOR, AUDITOR)
    review = uow.execute(
        "SELECT review_id::text, generated_by, generated_at, stale_days, summary, signed_off_by, "
        "signed_off_at, sign_off_note FROM access_reviews WHERE review_id = CAST(:id AS uuid)",
        {"id": _uuid(review_id, "review_id")}).mappings().first()
    if review is None:
        raise NotFound("peninjauan akses tidak ditemukan", field="review_id")
    items = uow.execute(
        "SELECT account_id, kind, roles, opd_scope, status, last_login_at, created_at, findings, "
        "pacts FROM access_review_items WHERE review_id = CAST(:id AS uuid) ORDER BY account_id",
        {"id": review["review_id"]}).mappings().all()
    return {**review, "items": [dict(i) for i in items]}


def list_reviews(uow, actor: Principal, limit: int, offset: int) -> list[dict]:
    """The access reviews made so far, newest first, without their items (one is read whole by
    `get_review`): the administrator's and the auditor's list (issue 16)."""
    actor.require(ADMINISTRATOR, AUDITOR)
    return [dict(r) for r in uow.execute(
        "SELECT review_id::text, generated_by, generated_at, stale_days, summary, signed_off_by, "
        "signed_off_at, sign_off_note FROM access_reviews ORDER BY generated_at DESC, review_id "
        "LIMIT :n OFFSET :o", {"n": limit, "o": offset}).mappings().all()]


def sign_off_review(uow, actor: Principal, review_id: str, note: str) -> dict:
    actor.require(ADMINISTRATOR)
    review = uow.execute("SELECT review_id::text, signed_off_by FROM access_reviews WHERE "
                         "review_id = CAST(:id AS uuid) FOR UPDATE",
                         {"id": _uuid(review_id, "review_id")}).mappings().first()
    if review is None:
        raise NotFound("peninjauan akses tidak ditemukan", field="review_id")
    if review["signed_off_by"]:
        raise Conflict("peninjauan ini sudah disahkan", field="review_id")
    uow.append(f"access-review:{review['review_id']}", "AccessReview", 1,
               [NewEvent("AccessReviewSignedOff", {"note": note})], reason=note)
    uow.execute("UPDATE access_reviews SET signed_off_by = :by, signed_off_at = now(), "
                "sign_off_note = :note WHERE review_id = CAST(:id AS uuid)",
                {"by": actor.account_id, "note": note, "id": review["review_id"]})
    return get_review(uow, actor, review["review_id"])


# -- machine clients --------------------------------------------------------------------------

def register_client(uow, kit: IdentityKit, actor: Principal, data: dict) -> dict:
    """A kabupaten/kota or an agency with an agreement gets API credentials; the secret is
    shown once and stored only as a hash."""
    actor.require(ADMINISTRATOR)
    if data["valid_until"] < data["valid_from"]:
        raise ValidationFailed("tanggal berakhir perjanjian sebelum tanggal mulai",
                               field="valid_until")
    if data["client_kind"] == "kabkota":
        codes = {k["kode_bps_nik"]: k for k in domain_data()["kab_kota_jatim"]}
        code = data.get("kabkota_code")
        if code not in codes:
            raise ValidationFailed("kode kabupaten/kota (4 digit BPS) tidak dikenal",
                                   field="kabkota_code")
        client_id = f"kabkota-{code}"
        display = codes[code]["nama_lengkap"]
    else:
        client_id = data.get("client_id") or ""
        if domain.kind_of_login(client_id) != domain.KIND_STAFF:
            raise ValidationFailed("client_id: huruf kecil, angka, titik atau strip (3-32)",
                                   field="client_id")
        display = data.get("name") or client_id
    if uow.execute("SELECT 1 FROM accounts WHERE account_id = :a", {"a": client_id}).first():
        raise AccountExists(f"klien {client_id} sudah terdaftar", field="client_id")
    account = Account()
    agreement = {"client_kind": data["client_kind"], "kabkota_code": data.get("kabkota_code"),
                 "agreement_kind": data["agreement_kind"],
                 "agreement_number": data["agreement_number"], "scopes": sorted(data["scopes"]),
                 "valid_from": data["valid_from"].isoformat(),
                 "valid_until": data["valid_until"].isoformat(),
                 **{k: sorted(set(data[k])) if isinstance(data[k], list) else data[k]
                    for k in TERMS}}
    accounts.save(uow, account, [
        ("AccountRegistered", {"account_id": client_id, "kind": domain.KIND_MACHINE,
                               "display_name": display, "email": data.get("contact_email"),
                               "phone": None, "home_opd": None, "roles": [MACHINE],
                               "opd_scope": []}),
        ("ClientRegistered", agreement)], reason=data["reason"])
    uow.execute("INSERT INTO machine_clients (client_id, client_kind, kabkota_code, "  # noqa: S608 - column names from TERMS; values bound
                "agreement_kind, agreement_number, scopes, valid_from, valid_until, "
                + ", ".join(TERMS) + ") VALUES (:id, :client_kind, :kabkota_code, "
                ":agreement_kind, :agreement_number, :scopes, :valid_from, :valid_until, "
                + ", ".join(f":{k}" for k in TERMS) + ")",
                {**agreement, "id": client_id, "valid_from": data["valid_from"],
                 "valid_until": data["valid_until"]})
    secret = new_token()
    uow.execute("INSERT INTO credentials (account_id, password_hash, password_changed_at) "
                "VALUES (:a, :h, now())", {"a": client_id, "h": kit.passwords.hash(secret)})
    return {**get_client(uow, actor, client_id), "client_secret": secret}


_CLIENT_QUERY = (
    "SELECT a.account_id AS client_id, a.display_name AS name, a.status, m.client_kind, "
    "m.kabkota_code, m.agreement_kind, m.agreement_number, m.scopes, m.valid_from, "
    "m.valid_until, a.last_login_at, " + ", ".join(f"m.{k}" for k in TERMS)
    + ", m.suspended_at IS NOT NULL AS suspended, m.suspended_reason "
    "FROM accounts a JOIN machine_clients m ON m.client_id = a.account_id")


def get_client(uow, actor: Principal, client_id: str) -> dict:
    actor.require(ADMINISTRATOR, AUDITOR)
    row = uow.execute(_CLIENT_QUERY + " WHERE a.account_id = :id", {"id": client_id}
                      ).mappings().first()
    if row is None:
        raise NotFound(f"klien {client_id} tidak ditemukan", field="client_id")
    return dict(row)


def list_clients(uow, actor: Principal) -> list[dict]:
    actor.require(ADMINISTRATOR, AUDITOR)
    return [dict(r) for r in uow.execute(_CLIENT_QUERY + " ORDER BY a.account_id").mappings()]


def rotate_client_secret(uow, kit: IdentityKit, actor: Principal, client_id: str,
                         reason: str) -> dict:
    client = get_client(uow, actor, client_id)
    actor.require(ADMINISTRATOR)
    secret = new_token()
    uow.execute("UPDATE credentials SET password_hash = :h, password_changed_at = now() "
                "WHERE account_id = :a", {"h": kit.passwords.hash(secret), "a": client_id})
    account = accounts.load(uow, client_id)
    accounts.save(uow, account, [("ClientSecretRotated", {})], reason)
    accounts._revoke_sessions(uow, client_id, "password_changed")
    return {**client, "client_secret": secret}


def revoke_client(uow, actor: Principal, client_id: str, reason: str) -> dict:
    """Withdraw a machine client's access: its account is disabled, which ends its sessions."""
    get_client(uow, actor, client_id)
    accounts.set_status(uow, actor, client_id, False, reason)
    return get_client(uow, actor, client_id)


def suspend_client(uow, actor: Principal, client_id: str, suspend: bool, reason: str) -> dict:
    """BKD suspends a client's agreement (or reinstates it): from this transaction on, every
    request of the client is refused with `agreement_suspended` (its cached sessions are fenced
    with it); reinstating lets the same sessions in again."""
    client = get_client(uow, actor, client_id)
    actor.require(ADMINISTRATOR)
    if client["suspended"] == suspend:
        raise Conflict("perjanjian klien sudah " + ("ditangguhkan" if suspend else "berlaku"),
                       field="client_id", code="agreement_already_"
                       + ("suspended" if suspend else "in_force"))
    account = accounts.load(uow, client_id)
    accounts.save(uow, account, [("ClientSuspended" if suspend else "ClientReinstated",
                                  {"reason": reason})], reason)
    uow.execute("UPDATE machine_clients SET suspended_at = CASE WHEN :s THEN now() END, "
                "suspended_reason = CASE WHEN :s THEN :r END WHERE client_id = :id",
                {"s": suspend, "r": reason, "id": client_id})
    return get_client(uow, actor, client_id)


def client_token(uow, kit: IdentityKit, data: dict, client_address: str | None):
    """OAuth2-style client credentials: a session for the machine client while its agreement
    is in force. Failures look the same whether the client exists or not."""
    row = uow.execute(
        "SELECT a.status, c.password_hash, current_date BETWEEN m.valid_from AND m.valid_until "
        "AS in_force, m.suspended_at IS NOT NULL AS suspended FROM accounts a "
        "JOIN machine_clients m ON m.client_id = a.account_id "
        "JOIN credentials c ON c.account_id = a.account_id WHERE a.account_id = :id",
        {"id": data["client_id"]}).mappings().first()
    if row is None:
        kit.passwords.verify(None, data["client_secret"])
        raise LoginFailed("client_id atau client_secret salah", field="client_secret")
    if not kit.passwords.verify(row["password_hash"], data["client_secret"]):
        raise LoginFailed("client_id atau client_secret salah", field="client_secret")
    if row["status"] != "active":
        raise Forbidden("akses klien telah dicabut", field="client_id")
    accounts.refuse_agreement(row["in_force"], row["suspended"], "client_id")
    return accounts._start_session(uow, kit, data["client_id"],
                                   {"device": "api-client"}, client_address)


