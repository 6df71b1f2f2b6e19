"""Identity use cases: each function is one command or query, run in one unit of work.

Account state is rebuilt from the account's event stream; the `accounts` table is a projection
written in the same transaction, used for lookups (login, lists). Failed attempts are counted
per (client address, login) and slow that source (throttle.py); a TOTP step is taken by one
conditional UPDATE, so one code opens one session however many logins race with it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from services.identity import domain
from services.identity.dependencies import IdentityKit
from services.identity.domain import ADMINISTRATOR, AUDITOR, FASILITATOR, Account
from services.identity.exceptions import (
    AccountExists,
    IdentityError,
    LoginFailed,
    PasswordRejected,
    TokenUsed,
    TotpInvalid,
    TotpRequired,
)
from services.identity.security import (
    TokenInvalid,
    digest,
    new_token,
    new_totp_secret,
    totp_step,
    totp_uri,
)
from services.identity.usecases import emails, pacts, throttle
from shared.auth import Principal
from shared.errors import Forbidden, NotFound, ValidationFailed
from shared.eventstore import ANY_VERSION, NO_STREAM, NewEvent
from shared.reference import opds

PUBLIC_COLUMNS = ("account_id, kind, display_name, email, phone, home_opd, roles, opd_scope, "
                  "status, totp_enrolled, last_login_at, created_at, version")


# -- loading and saving ------------------------------------------------------------------

def load(uow, account_id: str) -> Account:
    events = uow.read_stream(domain.stream_for(account_id))
    if not events:
        raise NotFound(f"akun {account_id} tidak ditemukan", field="account_id")
    return domain.replay(events)


def save(uow, account: Account, changes: list[tuple[str, dict]], reason: str | None = None
         ) -> Account:
    """Append `changes` at the version the account was loaded at, then refresh the projection."""
    expected = account.version if account.version else NO_STREAM
    uow.append(domain.stream_for(account.account_id or changes[0][1]["account_id"]), "Account",
               expected, [NewEvent(t, p) for t, p in changes], reason=reason)
    for event_type, payload in changes:
        account.apply(event_type, payload)
    s = account.snapshot()
    uow.execute(
        "INSERT INTO accounts (account_id, kind, display_name, email, phone, home_opd, roles, "
        "opd_scope, status, totp_enrolled, version) VALUES (:account_id, :kind, :display_name, "
        ":email, :phone, :home_opd, :roles, :opd_scope, :status, :totp_enrolled, :version) "
        "ON CONFLICT (account_id) DO UPDATE SET display_name = EXCLUDED.display_name, "
        "email = EXCLUDED.email, phone = EXCLUDED.phone, home_opd = EXCLUDED.home_opd, "
        "roles = EXCLUDED.roles, opd_scope = EXCLUDED.opd_scope, status = EXCLUDED.status, "
        "totp_enrolled = EXCLUDED.totp_enrolled, version = EXCLUDED.version",
        {k: s[k] for k in ("account_id", "kind", "display_name", "email", "phone", "home_opd",
                           "roles", "opd_scope", "status", "totp_enrolled", "version")},
    )
    return account


def _login_event(uow, account_id: str, event_type: str, payload: dict) -> None:
    uow.append(f"login:{account_id}", "Login", ANY_VERSION, [NewEvent(event_type, payload)])


def _now(uow) -> datetime:
    return uow.execute("SELECT now()").scalar_one()


def _check_opds(codes, field_name: str) -> None:
    known = opds()
    for code in codes:
        if code not in known:
            raise ValidationFailed(f"OPD {code!r} tidak dikenal", field=field_name)


def _check_password(kit: IdentityKit, password: str, account: Account) -> None:
    problems = kit.password_policy.problems(password, account.account_id, account.display_name)
    if problems:
        raise PasswordRejected("Kata sandi: " + "; ".join(problems), field="new_password",
                               details={"problems": problems})


def _mask(email: str) -> str:
    name, _, host = email.partition("@")
    return f"{name[:2]}***@{host}"


# -- registration and administration -----------------------------------------------------

def register(uow, kit: IdentityKit, actor: Principal, data: dict, invite: bool = True) -> dict:
    """A new account; with `invite` the holder gets an activation token by email and sets
    the password themselves (nobody else ever does)."""
    actor.require(ADMINISTRATOR)
    login = data["login"]
    kind = domain.kind_of_login(login)
    if kind is None:
        raise ValidationFailed("login harus NIP 18 digit (pegawai) atau nama pengguna huruf kecil",
                               field="login")
    roles = data["roles"]
    if kind == domain.KIND_PEGAWAI and roles != [domain.PEGAWAI]:
        raise ValidationFailed("akun NIP hanya untuk peran pegawai; fasilitator, administrator "
                               "dan auditor memakai nama pengguna", field="roles")
    if kind == domain.KIND_STAFF and not set(roles) <= set(domain.STAFF_ROLES):
        raise ValidationFailed("akun nama pengguna untuk fasilitator, administrator, auditor",
                               field="roles")
    if kind == domain.KIND_PEGAWAI and not data.get("home_opd"):
        raise ValidationFailed("pegawai harus memiliki OPD", field="home_opd")
    _check_opds([data["home_opd"]] if data.get("home_opd") else [], "home_opd")
    scope = sorted(set(data.get("opd_scope") or []))
    if FASILITATOR in roles and not scope:
        raise ValidationFailed("fasilitator harus ditugaskan ke minimal satu OPD",
                               field="opd_scope")
    _check_opds(scope, "opd_scope")
    if uow.execute("SELECT 1 FROM accounts WHERE account_id = :a", {"a": login}).first():
        raise AccountExists(f"akun {login} sudah terdaftar", field="login")
    account = Account()
    registered = {"account_id": login, "kind": kind, "display_name": data["display_name"],
                  "email": data["email"], "phone": data.get("phone"),
                  "home_opd": data.get("home_opd"), "roles": sorted(roles),
                  "opd_scope": scope if FASILITATOR in roles else []}
    save(uow, account, [("AccountRegistered", registered)], reason=data["reason"])
    uow.execute("INSERT INTO credentials (account_id) VALUES (:a)", {"a": login})
    if invite:
        token, expires_at = _one_time_token(uow, kit, login, "password_reset", kit.reset_ttl)
        save(uow, account, [("PasswordResetRequested", {"expires_at": expires_at.isoformat(),
                                                        "delivered_to": _mask(data["email"])})],
             reason="aktivasi akun baru")
        emails.queue_account_mail(uow, kit.box, "activation", data["email"],
                                  "Aktivasi akun SIMASN Jatim",
                                  f"Buat kata sandi Anda dengan token aktivasi berikut: {token}")
    return account.snapshot()


def _one_time_token(uow, kit, account_id, purpose, ttl, sealed_secret=None):
    token = new_token()
    expires_at = _now(uow) + ttl
    uow.execute("INSERT INTO one_time_tokens (token_hash, purpose, account_id, sealed_secret, "
                "expires_at) VALUES (:h, :p, :a, :s, :e)",
                {"h": digest(token), "p": purpose, "a": account_id, "s": sealed_secret,
                 "e": expires_at})
    return token, expires_at


def _take_one_time_token(uow, token: str, purpose: str) -> dict:
    row = uow.execute(
        "SELECT account_id, sealed_secret, expires_at < now() AS expired, used_at "
        "FROM one_time_tokens WHERE token_hash = :h AND purpose = :p FOR UPDATE",
        {"h": digest(token or ""), "p": purpose}).mappings().first()
    if row is None or row["used_at"] is not None or row["expired"]:
        raise TokenUsed("token tidak berlaku atau sudah digunakan", field="token")
    uow.execute("UPDATE one_time_tokens SET used_at = now() WHERE token_hash = :h",
                {"h": digest(token)})
    return dict(row)


def set_status(uow, actor: Principal, account_id: str, enabled: bool, reason: str) -> dict:
    actor.require(ADMINISTRATOR)
    if account_id == actor.account_id:
        raise Forbidden("administrator tidak dapat mengubah status akunnya sendiri",
                        field="account_id")
    account = load(uow, account_id)
    wanted = "active" if enabled else "disabled"
    if account.status == wanted:
        return account.snapshot()
    save(uow, account, [("AccountEnabled" if enabled else "AccountDisabled", {})], reason)
    if not enabled:
        _revoke_sessions(uow, account_id, "account_disabled")
    return account.snapshot()


def change_role(uow, actor: Principal, account_id: str, role: str, grant: bool,
                opd_scope: list[str], reason: str) -> dict:
    actor.require(ADMINISTRATOR)
    if account_id == actor.account_id:
        raise Forbidden("administrator tidak dapat mengubah perannya sendiri", field="account_id")
    account = load(uow, account_id)
    if role not in domain.STAFF_ROLES or account.kind != domain.KIND_STAFF:
        raise ValidationFailed("peran staf hanya untuk akun nama pengguna", field="role")
    if grant:
        if role == FASILITATOR and not opd_scope:
            raise ValidationFailed("fasilitator harus ditugaskan ke minimal satu OPD",
                                   field="opd_scope")
        _check_opds(opd_scope, "opd_scope")
        # the grant rests on the person's integrity pact for the role (issue 17 part 5)
        change = ("RoleGranted", {"role": role, "opd_scope": sorted(set(opd_scope))
                                  if role == FASILITATOR else [],
                                  "pact_id": pacts.require(uow, account_id, role)})
    else:
        if role not in account.roles:
            raise NotFound(f"akun tidak memiliki peran {role}", field="role")
        change = ("RoleRevoked", {"role": role})
    save(uow, account, [change], reason)
    if grant and role in domain.TOTP_ROLES and not account.totp_enrolled:
        # a session opened with a password alone must not carry a role that needs TOTP
        _revoke_sessions(uow, account_id, "administrator")
    return account.snapshot()


def reset_totp(uow, actor: Principal, account_id: str, reason: str) -> dict:
    """For someone who lost their authenticator: the old secret is gone, every session ends,
    and the next login enrolls a new one (after the password, as at first login)."""
    actor.require(ADMINISTRATOR)
    if account_id == actor.account_id:
        raise Forbidden("administrator lain yang harus mereset OTP Anda", field="account_id")
    account = load(uow, account_id)
    if not account.totp_enrolled:
        raise IdentityError("akun ini belum mendaftarkan OTP", field="account_id")
    uow.execute("UPDATE credentials SET totp_secret_sealed = NULL, totp_last_step = NULL "
                "WHERE account_id = :a", {"a": account_id})
    save(uow, account, [("TotpReset", {})], reason)
    _revoke_sessions(uow, account_id, "administrator")
    return account.snapshot()


def set_opd_scope(uow, actor: Principal, account_id: str, opd_scope: list[str],
                  reason: str) -> dict:
    """Replace a fasilitator's OPDs (narrowing included); at least one must remain."""
    actor.require(ADMINISTRATOR)
    account = load(uow, account_id)
    if FASILITATOR not in account.roles:
        raise ValidationFailed("hanya fasilitator yang memiliki penugasan OPD", field="account_id")
    scope = sorted(set(opd_scope))
    if not scope:
        raise ValidationFailed("fasilitator harus ditugaskan ke minimal satu OPD",
                               field="opd_scope")
    _check_opds(scope, "opd_scope")
    if set(scope) != account.opd_scope:
        save(uow, account, [("OpdScopeChanged", {"opd_scope": scope})], reason)
    return account.snapshot()


def trigger_password_reset(uow, kit: IdentityKit, actor: Principal, account_id: str,
                           reason: str) -> dict:
    """An administrator may start a reset; only the account holder can finish it."""
    actor.require(ADMINISTRATOR)
    account = load(uow, account_id)
    if not account.email:
        raise IdentityError("akun tidak memiliki email untuk mengirim tautan reset",
                            field="account_id")
    token, expires_at = _one_time_token(uow, kit, account_id, "password_reset", kit.reset_ttl)
    save(uow, account, [("PasswordResetRequested", {"expires_at": expires_at.isoformat(),
                                                    "delivered_to": _mask(account.email)})],
         reason)
    emails.queue_account_mail(uow, kit.box, "reset", account.email,
                              "Reset kata sandi SIMASN Jatim",
                              f"Gunakan token berikut untuk membuat kata sandi baru: {token}")
    return {"account_id": account_id, "delivered_to": _mask(account.email),
            "expires_at": expires_at}


# -- reading -----------------------------------------------------------------------------

def get_account(uow, actor: Principal, account_id: str) -> dict:
    row = uow.execute(f"SELECT {PUBLIC_COLUMNS} FROM accounts WHERE account_id = :a",  # noqa: S608 - identifiers from code only; every value is a bound parameter
                      {"a": account_id}).mappings().first()
    if row is None or not _may_view(actor, row):
        # the same answer for "absent" and "not yours": no probing of other OPDs
        raise NotFound(f"akun {account_id} tidak ditemukan", field="account_id")
    return dict(row)


def _may_view(actor: Principal, row) -> bool:
    target = Account(account_id=row["account_id"], kind=row["kind"], home_opd=row["home_opd"])
    return domain.can_view_account(actor.account_id, set(actor.roles), set(actor.opd_scope),
                                   target)


def list_accounts(uow, actor: Principal, opd_id: str | None, role: str | None,
                  limit: int, offset: int) -> dict:
    actor.require(ADMINISTRATOR, AUDITOR, FASILITATOR)
    where, params = [], {"limit": limit, "offset": offset}
    if not actor.has(ADMINISTRATOR, AUDITOR):
        if opd_id is not None and opd_id not in actor.opd_scope:
            raise Forbidden("OPD ini di luar penugasan Anda", field="opd_id")
        where.append("kind = 'pegawai' AND home_opd = ANY(:scope)")
        params["scope"] = sorted(actor.opd_scope)
    if opd_id is not None:
        where.append("home_opd = :opd")
        params["opd"] = opd_id
    if role is not None:
        where.append(":role = ANY(roles)")
        params["role"] = role
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    rows = uow.execute(f"SELECT {PUBLIC_COLUMNS} FROM accounts{clause} ORDER BY account_id "  # noqa: S608 - identifiers from code only; every value is a bound parameter
                       "LIMIT :limit OFFSET :offset", params).mappings().all()
    total = uow.execute(f"SELECT count(*) FROM accounts{clause}", params).scalar_one()  # noqa: S608 - identifiers from code only; every value is a bound parameter
    return {"items": [dict(r) for r in rows], "total": total, "limit": limit, "offset": offset}


# -- logging in ---------------------------------------------------------------------------

@dataclass
class Outcome:
    """What an attempt with a secret produced. A refusal is returned, not raised, so that the
    failure it counts commits; the entrypoint raises it after the commit."""

    result: dict | None = None
    error: Exception | None = None


def login(uow, kit: IdentityKit, data: dict, client_address: str | None) -> Outcome:
    """Password, then (for TOTP_ROLES) the second factor. An unknown account, a wrong password and
    a source that must wait are answered alike whether the account exists or not; failures slow
    their source (throttle.py), never lock the account."""
    out = Outcome()
    account_id = data["login"]
    attempt = throttle.begin(uow, client_address, account_id)
    row = None
    if domain.kind_of_login(account_id):
        row = uow.execute(
            "SELECT a.account_id, a.roles, a.status, a.totp_enrolled, c.password_hash, "
            "c.totp_secret_sealed, c.totp_last_step FROM accounts a "
            "LEFT JOIN credentials c USING (account_id) WHERE a.account_id = :a",
            {"a": account_id}).mappings().first()
    known = account_id if row is not None else None
    if attempt.wait:
        out.error = _refuse_waiting(uow, attempt, known)
        return out
    if not kit.passwords.verify(row["password_hash"] if row else None, data["password"]):
        reason = "bad_password" if row and row["password_hash"] else "no_password"
        out.error = _count_failure(uow, kit, attempt, known, reason, LoginFailed(
            "NIP/nama pengguna atau kata sandi salah", field="password"))
        return out
    if row["status"] != "active":
        _login_event(uow, account_id, "LoginFailed", {"reason": "disabled",
                                                      "failures": attempt.failures})
        out.error = Forbidden("akun dinonaktifkan; hubungi administrator BKD", field="login")
        return out
    needs_totp = bool(set(row["roles"]) & domain.TOTP_ROLES)
    if needs_totp and not row["totp_enrolled"]:
        throttle.succeed(uow, attempt)
        secret = new_totp_secret()
        token, _ = _one_time_token(uow, kit, account_id, "totp_enrollment", kit.reset_ttl,
                                   kit.box.seal(secret))
        out.result = {"status": "totp_enrollment_required", "enrollment_token": token,
                      "totp_uri": totp_uri(secret, account_id), "totp_secret": secret}
        return out
    if needs_totp:
        if not data.get("otp"):
            out.error = TotpRequired("masukkan kode OTP", field="otp")
            return out
        step = totp_step(kit.box.open(row["totp_secret_sealed"]), data["otp"],
                         row["totp_last_step"])
        if step is None or not _take_totp_step(uow, account_id, step):
            out.error = _count_failure(uow, kit, attempt, known, "bad_otp", TotpInvalid(
                "kode OTP salah atau sudah dipakai", field="otp"))
            return out
    throttle.succeed(uow, attempt)
    out.result = _start_session(uow, kit, account_id, data, client_address)
    return out


def _take_totp_step(uow, account_id: str, step: int) -> bool:
    """Record `step` as used, unless it (or a later one) already was. One conditional UPDATE: of
    logins racing with the same code, the first to write wins; the others wait for its row lock,
    find the step taken, and are refused."""
    return uow.execute(
        "UPDATE credentials SET totp_last_step = :s WHERE account_id = :a "
        "AND (totp_last_step IS NULL OR totp_last_step < :s)",
        {"s": step, "a": account_id}).rowcount == 1


def _refuse_waiting(uow, attempt: throttle.Attempt, account_id: str | None) -> Exception:
    """The source must wait: refused without its secret being checked."""
    if account_id:
        _login_event(uow, account_id, "LoginFailed", {"reason": "throttled",
                                                      "failures": attempt.failures})
    return throttle.refusal(attempt)


def _count_failure(uow, kit: IdentityKit, attempt: throttle.Attempt, account_id: str | None,
                   reason: str, error: Exception) -> Exception:
    """One more failure from this source; logged on the account's login stream when it exists
    (an unknown login leaves no stream, but is counted just the same)."""
    failures, until = throttle.fail(uow, kit.throttle, attempt)
    if account_id:
        _login_event(uow, account_id, "LoginFailed", {"reason": reason, "failures": failures})
        if until:
            _login_event(uow, account_id, "LoginThrottled",
                         {"until": until.isoformat(), "failures": failures})
    return error


def _start_session(uow, kit: IdentityKit, account_id: str, data: dict,
                   client_address: str | None) -> dict:
    session_id = str(uuid.uuid4())
    secret = new_token()
    now = _now(uow)
    uow.execute(
        "INSERT INTO sessions (session_id, account_id, device, user_agent, client_address, "
        "refresh_hash, expires_at) VALUES (:s, :a, :d, :u, :c, :h, :e)",
        {"s": session_id, "a": account_id, "d": data.get("device") or "tidak disebutkan",
         "u": (data.get("user_agent") or "")[:300], "c": client_address,
         "h": digest(secret), "e": now + kit.refresh_ttl})
    uow.execute("UPDATE accounts SET last_login_at = :n WHERE account_id = :a",
                {"n": now, "a": account_id})
    _login_event(uow, account_id, "LoginSucceeded",
                 {"session_id": session_id, "device": data.get("device") or "tidak disebutkan"})
    return _tokens(kit, account_id, session_id, secret)


def _tokens(kit: IdentityKit, account_id: str, session_id: str, secret: str) -> dict:
    access, ttl = kit.tokens.issue(account_id, session_id)
    return {"status": "ok", "access_token": access, "token_type": "Bearer", "expires_in": ttl,
            "refresh_token": f"{session_id}.{secret}", "session_id": session_id,
            "account_id": account_id}


def confirm_totp(uow, kit: IdentityKit, data: dict, client_address: str | None) -> dict:
    row = _take_one_time_token(uow, data["enrollment_token"], "totp_enrollment")
    uow.metadata.update(actor_id=row["account_id"], actor_role="owner")
    secret = kit.box.open(row["sealed_secret"])
    step = totp_step(secret, data["otp"], None)
    if step is None:
        raise TotpInvalid("kode OTP salah; periksa jam perangkat Anda", field="otp")
    account = load(uow, row["account_id"])
    uow.execute("UPDATE credentials SET totp_secret_sealed = :s, totp_last_step = :t "
                "WHERE account_id = :a", {"s": row["sealed_secret"], "t": step,
                                          "a": account.account_id})
    save(uow, account, [("TotpEnrolled", {})], "pendaftaran OTP oleh pemilik akun")
    # a session opened with the password alone (before the role needed TOTP) ends here
    _revoke_sessions(uow, account.account_id, "totp_enrolled")
    return _start_session(uow, kit, account.account_id, data, client_address)


def refresh(uow, kit: IdentityKit, refresh_token: str) -> dict:
    session_id, _, secret = (refresh_token or "").partition(".")
    try:
        uuid.UUID(session_id)
    except ValueError:
        raise TokenInvalid("refresh token tidak sah", field="refresh_token") from None
    row = uow.execute(
        "SELECT s.account_id, s.refresh_hash, s.revoked_at, s.expires_at < now() AS expired, "
        "a.status FROM sessions s JOIN accounts a USING (account_id) "
        "WHERE s.session_id = :s FOR UPDATE OF s", {"s": session_id}).mappings().first()
    if row is None or row["revoked_at"] or row["expired"] or row["status"] != "active":
        raise TokenInvalid("sesi sudah berakhir; silakan masuk kembali", field="refresh_token")
    if digest(secret) != row["refresh_hash"]:
        # an old refresh token came back: someone else holds this session's tokens
        _revoke(uow, row["account_id"], session_id, "refresh_reuse")
        return {"error": TokenInvalid("refresh token sudah dipakai; sesi diakhiri demi keamanan",
                                      field="refresh_token")}
    new_secret = new_token()
    uow.execute("UPDATE sessions SET refresh_hash = :h, refreshed_at = now(), "
                "expires_at = now() + :ttl WHERE session_id = :s",
                {"h": digest(new_secret), "ttl": kit.refresh_ttl, "s": session_id})
    return _tokens(kit, row["account_id"], session_id, new_secret)


#: a machine client's agreement as the gateway cuts agency answers to it (issue 17)
_AGREEMENT = ("m.client_kind, m.kabkota_code, m.agreement_kind, m.agreement_number, "
              "m.valid_until, m.allowed_fields, m.confidential_fields, m.population_instansi, "
              "m.population_opds, m.purposes, m.rate_per_minute, m.quota_per_day")


def authenticate(uow, kit: IdentityKit, access_token: str) -> dict:
    claims = kit.tokens.decode(access_token)
    row = uow.execute(
        "SELECT a.account_id, a.kind, a.display_name, a.roles AS held, "  # noqa: S608 - fixed columns; values bound
        + pacts.WORKING_ROLES + " AS roles, a.opd_scope, a.home_opd, "
        "coalesce(m.scopes, '{}') AS scopes, extract(epoch FROM least(s.expires_at, "
        "CAST(m.valid_until + 1 AS timestamptz)))::float8 AS cache_until, "
        "m.client_id IS NOT NULL AS client, current_date BETWEEN m.valid_from AND "
        "m.valid_until AS in_force, m.suspended_at IS NOT NULL AS suspended, " + _AGREEMENT
        + " FROM sessions s JOIN accounts a USING (account_id) "
        "LEFT JOIN machine_clients m ON m.client_id = a.account_id WHERE s.session_id = :s "
        "AND s.account_id = :a AND s.revoked_at IS NULL AND s.expires_at > now() "
        "AND a.status = 'active' AND (a.totp_enrolled OR NOT a.roles && :totp_roles)",
        {"s": claims["sid"], "a": claims["sub"], "totp_roles": sorted(domain.TOTP_ROLES),
         "pact_roles": list(domain.PACT_ROLES)}
    ).mappings().first()
    if row is None:
        # ... or it was opened with a password alone and the account's roles now need TOTP
        # (an auditor's session from before auditors did): enrolling ends it (confirm_totp)
        raise TokenInvalid("sesi sudah diakhiri; silakan masuk kembali", field="Authorization")
    agreement = None
    if row["client"]:
        # a machine client's agreement must be in force today and not suspended, not only
        # when the token was issued (a suspension fences cached answers: ACCESS_CHANGES)
        refuse_agreement(row["in_force"], row["suspended"], "Authorization")
        agreement = {k: row[k] for k in _AGREEMENT.replace("m.", "").split(", ")}
        agreement["valid_until"] = row["valid_until"].isoformat()
    principal = {k: row[k] for k in ("account_id", "kind", "display_name", "roles",
                                     "opd_scope", "home_opd", "scopes")}
    if set(row["held"]) - set(row["roles"]):
        # a fasilitator or administrator role without an integrity pact in force does not work;
        # the account may still sign one (issue 17 part 5)
        principal["roles"] = [*row["roles"], domain.UNSIGNED]
    # this answer holds, unless an access change is recorded, until the token, the session or
    # a machine client's agreement ends, whichever comes first
    return {**principal, "session_id": claims["sid"], "agreement": agreement,
            "cache_until": min(float(claims["exp"]), row["cache_until"] or float("inf"))}


def refuse_agreement(in_force: bool, suspended: bool, field: str) -> None:
    """A machine client whose agreement is suspended or not in force today is refused, each
    with its own code (issue 17: access stops at once)."""
    if suspended:
        raise Forbidden("perjanjian (MoU/PKS) klien sedang ditangguhkan BKD", field=field,
                        code="agreement_suspended")
    if not in_force:
        raise Forbidden("perjanjian (MoU/PKS) klien tidak berlaku pada tanggal ini",
                        field=field, code="agreement_expired")


# -- sessions and self-service -------------------------------------------------------------

def _revoke(uow, account_id: str, session_id: str, cause: str) -> None:
    uow.execute("UPDATE sessions SET revoked_at = now(), revoke_cause = :c "
                "WHERE session_id = :s AND revoked_at IS NULL", {"c": cause, "s": session_id})
    _login_event(uow, account_id, "SessionRevoked", {"session_id": session_id, "cause": cause})


def _revoke_sessions(uow, account_id: str, cause: str, keep: str | None = None) -> int:
    rows = uow.execute("SELECT session_id::text FROM sessions WHERE account_id = :a "
                       "AND revoked_at IS NULL AND (CAST(:k AS uuid) IS NULL OR session_id <> "
                       "CAST(:k AS uuid))", {"a": account_id, "k": keep}).scalars().all()
    for session_id in rows:
        _revoke(uow, account_id, session_id, cause)
    return len(rows)


def list_sessions(uow, actor: Principal) -> list[dict]:
    rows = uow.execute(
        "SELECT session_id::text, device, user_agent, client_address, created_at, refreshed_at, "
        "expires_at FROM sessions WHERE account_id = :a AND revoked_at IS NULL "
        "AND expires_at > now() ORDER BY created_at", {"a": actor.account_id}).mappings().all()
    return [{**r, "current": r["session_id"] == actor.session_id} for r in rows]


def revoke_session(uow, actor: Principal, session_id: str) -> None:
    try:
        session_id = str(uuid.UUID(str(session_id)))
    except ValueError:
        raise NotFound("sesi tidak ditemukan", field="session_id") from None
    row = uow.execute("SELECT account_id FROM sessions WHERE session_id = CAST(:s AS uuid) "
                      "AND revoked_at IS NULL", {"s": session_id}).first()
    owner = row[0] if row else None
    if owner is None or (owner != actor.account_id and not actor.has(ADMINISTRATOR)):
        raise NotFound("sesi tidak ditemukan", field="session_id")
    _revoke(uow, owner, session_id, "owner" if owner == actor.account_id else "administrator")


def logout(uow, actor: Principal) -> None:
    if actor.session_id:
        _revoke(uow, actor.account_id, actor.session_id, "logout")


def _check_current_password(uow, kit: IdentityKit, actor: Principal, password: str,
                            client_address: str | None) -> Exception | None:
    """Re-entering the password draws on the login budget of this source (throttle.py): a
    wrong guess counts like a failed login, and a source that must wait is refused unchecked.
    Returns the refusal (see `Outcome`), or None."""
    attempt = throttle.begin(uow, client_address, actor.account_id)
    if attempt.wait:
        return _refuse_waiting(uow, attempt, actor.account_id)
    stored = uow.execute("SELECT password_hash FROM credentials WHERE account_id = :a",
                         {"a": actor.account_id}).scalar()
    if not kit.passwords.verify(stored, password):
        return _count_failure(uow, kit, attempt, actor.account_id, "bad_current_password",
                              Forbidden("kata sandi saat ini salah", field="current_password"))
    throttle.succeed(uow, attempt)
    return None


def reauthenticate(uow, kit: IdentityKit, actor: Principal, data: dict,
                   client_address: str | None) -> Outcome:
    """The owner of this live session re-enters their password (and, when the account has
    TOTP, a fresh OTP): the clear-screen lock (issue 16), signing an integrity pact (issue 17).
    It draws on the login budget of this source exactly as a login does (throttle.py): a
    source that must wait is refused unchecked, a wrong password or OTP counts as a failed
    login. A session that ended or an account disabled meanwhile is refused (401) without
    counting."""
    row = uow.execute(
        "SELECT a.status, a.totp_enrolled, c.password_hash, c.totp_secret_sealed, "
        "c.totp_last_step, EXISTS (SELECT 1 FROM sessions s WHERE s.session_id = "
        "CAST(:s AS uuid) AND s.account_id = a.account_id AND s.revoked_at IS NULL AND "
        "s.expires_at > now()) AS live FROM accounts a LEFT JOIN credentials c "
        "USING (account_id) WHERE a.account_id = :a",
        {"a": actor.account_id, "s": actor.session_id}).mappings().first()
    if actor.session_id is None or row is None or row["status"] != "active" or not row["live"]:
        return Outcome(error=TokenInvalid("sesi sudah diakhiri; silakan masuk kembali",
                                          field="Authorization"))
    attempt = throttle.begin(uow, client_address, actor.account_id)
    if attempt.wait:
        return Outcome(error=_refuse_waiting(uow, attempt, actor.account_id))
    if not kit.passwords.verify(row["password_hash"], data["password"]):
        return Outcome(error=_count_failure(uow, kit, attempt, actor.account_id,
                                            "bad_unlock_password",
                                            LoginFailed("kata sandi salah", field="password")))
    if row["totp_enrolled"]:
        if not data.get("otp"):
            return Outcome(error=TotpRequired("masukkan kode OTP", field="otp"))
        step = totp_step(kit.box.open(row["totp_secret_sealed"]), data["otp"],
                         row["totp_last_step"])
        if step is None or not _take_totp_step(uow, actor.account_id, step):
            return Outcome(error=_count_failure(uow, kit, attempt, actor.account_id,
                                                "bad_unlock_otp", TotpInvalid(
                                                    "kode OTP salah atau sudah dipakai",
                                                    field="otp")))
    throttle.succeed(uow, attempt)
    return Outcome()


def unlock(uow, kit: IdentityKit, actor: Principal, data: dict,
           client_address: str | None) -> Outcome:
    """The clear-screen lock (issue 16): `reauthenticate`, then recorded; nothing is issued,
    the caller keeps its tokens."""
    outcome = reauthenticate(uow, kit, actor, data, client_address)
    if outcome.error is None:
        _login_event(uow, actor.account_id, "SessionUnlocked", {"session_id": actor.session_id})
    return outcome


def change_password(uow, kit: IdentityKit, actor: Principal, current: str, new: str,
                    client_address: str | None) -> Outcome:
    """Only the account holder, after re-entering their password; no one else, ever."""
    refused = _check_current_password(uow, kit, actor, current, client_address)
    if refused:
        return Outcome(error=refused)
    account = load(uow, actor.account_id)
    if current == new:
        raise PasswordRejected("kata sandi baru harus berbeda", field="new_password")
    _check_password(kit, new, account)
    _store_password(uow, kit, account, new, "self")
    _revoke_sessions(uow, account.account_id, "password_changed", keep=actor.session_id)
    return Outcome()


def _store_password(uow, kit: IdentityKit, account: Account, password: str, method: str):
    uow.execute("UPDATE credentials SET password_hash = :h, password_changed_at = now() "
                "WHERE account_id = :a",
                {"h": kit.passwords.hash(password), "a": account.account_id})
    # any other reset or activation link still in someone's mailbox stops working
    uow.execute("UPDATE one_time_tokens SET used_at = now() WHERE account_id = :a "
                "AND purpose = 'password_reset' AND used_at IS NULL",
                {"a": account.account_id})
    save(uow, account, [("PasswordChanged", {"method": method})])


def complete_password_reset(uow, kit: IdentityKit, token: str, new: str) -> str:
    row = _take_one_time_token(uow, token, "password_reset")
    uow.metadata.update(actor_id=row["account_id"], actor_role="owner")
    account = load(uow, row["account_id"])
    _check_password(kit, new, account)
    _store_password(uow, kit, account, new, "reset")
    _revoke_sessions(uow, account.account_id, "password_changed")
    return account.account_id


def change_contact(uow, kit: IdentityKit, actor: Principal, data: dict,
                   client_address: str | None) -> Outcome:
    """Only the account holder changes their own email or phone, after re-entering the
    password — a fasilitator or administrator never can (Pergub 73/2020)."""
    change = {k: data[k] for k in ("email", "phone") if k in data}
    if not change:
        raise ValidationFailed("isi email atau nomor telepon baru", field="email")
    refused = _check_current_password(uow, kit, actor, data["current_password"], client_address)
    if refused:
        return Outcome(error=refused)
    account = load(uow, actor.account_id)
    save(uow, account, [("ContactChanged", change)], "diubah oleh pemilik akun")
    return Outcome(account.snapshot())
