"""Holes found by probing login from outside (issue 12): the second factor for every role that
reads other people's data, one session per TOTP code however many logins race with it, and a
clear answer for a wrong or reused code. Real RPC, PostgreSQL, RabbitMQ; errors crossing RPC are
asserted by their code."""

import time

import psycopg2
import pyotp
import pytest
from nameko.standalone.rpc import ServiceRpcProxy

from services.identity import accounts, domain
from shared.errors import SimasnError
from tests.identity_helpers import PASSWORD, rpc, unique_nip, unique_username


def refusal(call, *args):
    """The problem an RPC answers: code, HTTP status, message, field, retry_after."""
    with pytest.raises(SimasnError) as refused:
        call(*args)
    error = refused.value
    return (error.code, error.http_status, error.message, error.field,
            (error.details or {}).get("retry_after") if isinstance(error.details, dict) else None)


def login_as(config, source):
    return rpc(config, {"client_address": source})


def sql(url, query, params=()):
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(query, params)
        rows = cur.fetchall() if cur.description else None
    conn.close()
    return rows


# -- the second factor ---------------------------------------------------------------------

def test_the_roles_needing_totp_are_exactly_the_human_roles_that_read_other_peoples_data():
    someone_else = domain.Account(account_id="199001012015011001", kind=domain.KIND_PEGAWAI,
                                  home_opd="dinkes")
    readers = {role for role in domain.HUMAN_ROLES
               if domain.can_view_account("x", {role}, {"dinkes"}, someone_else)}
    assert readers == domain.TOTP_ROLES == {"fasilitator", "administrator", "auditor"}


@pytest.mark.parametrize("role", ["pegawai", "fasilitator", "administrator", "auditor"])
def test_each_role_that_reads_other_peoples_data_logs_in_only_with_a_second_factor(
        identity, identity_config, role):
    login = unique_nip() if role == "pegawai" else unique_username(role[:5])
    identity.boot.create({"login": login, "display_name": "Rina Wulandari", "roles": [role],
                          "email": f"{login}@mail.test",
                          "home_opd": "dinkes" if role == "pegawai" else None,
                          "opd_scope": ["dinkes"] if role == "fasilitator" else []}, PASSWORD)
    with login_as(identity_config, "10.1.0.1") as svc:
        first = svc.login({"login": login, "password": PASSWORD})
    if role == "pegawai":
        assert first["status"] == "ok" and first["access_token"]
        return
    assert first["status"] == "totp_enrollment_required" and "access_token" not in first
    with login_as(identity_config, "10.1.0.1") as svc:
        enrolled = svc.confirm_totp({"enrollment_token": first["enrollment_token"],
                                     "otp": pyotp.TOTP(first["totp_secret"]).now()})
        assert enrolled["status"] == "ok"
        assert refusal(svc.login, {"login": login, "password": PASSWORD})[:2] == (
            "totp_required", 401)


def test_a_session_opened_with_a_password_alone_ends_once_its_role_needs_a_second_factor(
        identity, identity_config):
    auditor = unique_username("audit")
    identity.boot.create({"login": auditor, "display_name": "Auditor Inspektorat",
                          "email": f"{auditor}@jatimprov.go.id", "roles": ["auditor"]}, PASSWORD)
    with identity.boot.db.transaction() as uow:  # a session from before auditors needed TOTP
        old = accounts._start_session(uow, identity.boot.kit, auditor, {"device": "lama"}, None)
    with login_as(identity_config, "10.1.0.2") as svc:
        assert refusal(svc.authenticate, old["access_token"])[0] == "token_invalid"
        first = svc.login({"login": auditor, "password": PASSWORD})
        assert first["status"] == "totp_enrollment_required"
        new = svc.confirm_totp({"enrollment_token": first["enrollment_token"],
                                "otp": pyotp.TOTP(first["totp_secret"]).now()})
        assert svc.authenticate(new["access_token"])["roles"] == ["auditor"]
        # enrolling does not bring the password-only session back
        assert refusal(svc.authenticate, old["access_token"])[0] == "token_invalid"


def test_one_totp_code_opens_one_session_however_many_logins_race_with_it(
        identity, identity_config, database_url):
    username = identity.staff(["fasilitator"], ["dinkes"])
    code = identity.otp(username)
    proxies = [ServiceRpcProxy("identity", identity_config,
                               context_data={"client_address": f"10.2.0.{i}"})
               for i in range(1, 6)]
    started = [proxy.start() for proxy in proxies]
    try:
        replies = [svc.login.call_async({"login": username, "password": PASSWORD, "otp": code})
                   for svc in started]
        outcomes = []
        for reply in replies:
            try:
                outcomes.append(reply.result()["status"])
            except SimasnError as exc:
                outcomes.append(exc.code)
    finally:
        for proxy in proxies:
            proxy.stop()
    sessions = sql(database_url, "SELECT count(*) FROM identity.sessions WHERE account_id = %s",
                   (username,))[0][0]
    assert sessions == 1, f"one code opened {sessions} sessions: {outcomes}"
    assert sorted(outcomes) == ["ok"] + ["totp_invalid"] * 4


def test_a_wrong_or_reused_code_is_a_401_with_its_own_code(identity, identity_config):
    username = identity.staff(["administrator"])
    totp = pyotp.TOTP(identity.totp[username])
    near = {totp.at(time.time() + steps * totp.interval) for steps in (-2, -1, 0, 1, 2)}
    wrong = next(code for code in (f"{n:06d}" for n in range(1000)) if code not in near)
    with login_as(identity_config, "10.3.0.1") as svc:
        assert refusal(svc.login, {"login": username, "password": PASSWORD})[:4] == (
            "totp_required", 401, "masukkan kode OTP", "otp")
        bad = refusal(svc.login, {"login": username, "password": PASSWORD, "otp": wrong})
        assert bad[:2] == ("totp_invalid", 401) and bad[3] == "otp"
        code = identity.otp(username)
        assert svc.login({"login": username, "password": PASSWORD, "otp": code})["status"] == "ok"
        reused = refusal(svc.login, {"login": username, "password": PASSWORD, "otp": code})
        assert reused == bad and "sudah dipakai" in reused[2]

    newcomer = unique_username("fasil")
    identity.boot.create({"login": newcomer, "display_name": "Fasilitator Baru",
                          "email": f"{newcomer}@jatimprov.go.id", "roles": ["fasilitator"],
                          "opd_scope": ["dinkes"]}, PASSWORD)
    with login_as(identity_config, "10.3.0.1") as svc:
        first = svc.login({"login": newcomer, "password": PASSWORD})
        enrolling = pyotp.TOTP(first["totp_secret"])
        near = {enrolling.at(time.time() + s * enrolling.interval) for s in (-2, -1, 0, 1, 2)}
        wrong = next(code for code in (f"{n:06d}" for n in range(1000)) if code not in near)
        assert refusal(svc.confirm_totp, {"enrollment_token": first["enrollment_token"],
                                          "otp": wrong})[:2] == ("totp_invalid", 401)
