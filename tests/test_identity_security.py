"""Holes found by probing login from outside (issue 12): the second factor for every role that
reads other people's data, one session per TOTP code however many logins race with it, a clear
answer for a wrong or reused code, current-password guesses counted like login failures, and
login answers that neither tell whether an account exists nor let anyone lock its owner out
(failures slow the source they come from, with a growing wait). Real RPC, PostgreSQL, RabbitMQ;
errors crossing RPC are asserted by their code."""

import re
import time

import psycopg2
import pyotp
import pytest
from nameko.standalone.rpc import ServiceRpcProxy

from services.identity import domain
from services.identity.security import Passwords
from services.identity.usecases import accounts
from shared.errors import SimasnError
from tests.helpers import signed
from tests.identity_helpers import PASSWORD, context_of, rpc, unique_nip, unique_username

WRONG = "Salah-Sandi-123"


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


def time_passes(database_url):
    """Every wait a source was given has run out."""
    sql(database_url, "UPDATE identity.login_throttle SET blocked_until = now() - "
                      "interval '1 second' WHERE blocked_until IS NOT NULL")


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
                               context_data=signed({"client_address": f"10.2.0.{i}"},
                                                           identity_config))
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


# -- failures: same answer for everyone, a growing wait for the source ----------------------

def test_unknown_accounts_and_wrong_passwords_get_the_same_answers_throttled_or_not(
        identity, identity_config):
    nip = identity.pegawai()
    answers = {}
    for login in (nip, unique_nip(), "tidak.ada"):
        with login_as(identity_config, "10.4.0.1") as svc:
            answers[login] = [refusal(svc.login, {"login": login, "password": WRONG})
                              for _ in range(7)]
    seen = {login: [(code, status, re.sub(r"\d+", "N", message), field, after is not None)
                    for code, status, message, field, after in refusals]
            for login, refusals in answers.items()}
    first, *others = seen.values()
    assert all(other == first for other in others)
    assert [s[:2] for s in first] == [("login_failed", 401)] * 5 + [("login_throttled", 429)] * 2
    assert [after for *_, after in first] == [False] * 5 + [True] * 2


def test_an_unknown_account_costs_a_real_argon2_verification():
    passwords = Passwords(1, 1024)
    stored = passwords.hash(PASSWORD)

    class Recording:
        def __init__(self, hasher):
            self.hasher, self.verified = hasher, []

        def hash(self, password):
            return self.hasher.hash(password)

        def verify(self, hashed, password):
            self.verified.append(hashed)
            return self.hasher.verify(hashed, password)

    passwords._hasher = recording = Recording(passwords._hasher)
    assert passwords.verify(stored, PASSWORD) is True
    assert passwords.verify(None, PASSWORD) is False  # no such account
    assert passwords.verify("", PASSWORD) is False  # an account not yet activated
    assert len(recording.verified) == 3
    assert all(hashed.startswith("$argon2id$v=19$m=1024,t=1") for hashed in recording.verified)


def test_failures_slow_their_source_ever_more_and_never_lock_the_owner_out(
        identity, identity_config, database_url):
    nip = identity.pegawai()
    with login_as(identity_config, "203.0.113.9") as attacker, \
            login_as(identity_config, "10.4.1.1") as owner:
        for _ in range(5):
            assert refusal(attacker.login, {"login": nip, "password": WRONG})[0] == "login_failed"
        waits = []
        for _ in range(3):
            # while it waits, the source is refused without its password being tried, the right
            # one included; the owner elsewhere logs in all along
            throttled = refusal(attacker.login, {"login": nip, "password": PASSWORD})
            assert throttled[:2] == ("login_throttled", 429) and throttled[3] == "login"
            waits.append(throttled[4])
            assert owner.login({"login": nip, "password": PASSWORD})["status"] == "ok"
            time_passes(database_url)
            assert refusal(attacker.login, {"login": nip, "password": WRONG})[0] == "login_failed"
        assert 0 < waits[0] <= 30 < waits[1] <= 60 < waits[2] <= 120
        time_passes(database_url)
        # the right password from the slowed source, once its wait is over, starts it afresh
        assert attacker.login({"login": nip, "password": PASSWORD})["status"] == "ok"
        for _ in range(4):
            assert refusal(attacker.login, {"login": nip, "password": WRONG})[0] == "login_failed"
        assert attacker.login({"login": nip, "password": PASSWORD})["status"] == "ok"
    events = sql(database_url, "SELECT event_type, payload->>'reason', "
                               "metadata->>'client_address' FROM identity.events "
                               "WHERE stream_id = %s AND event_type <> 'LoginSucceeded' "
                               "ORDER BY version", (f"login:{nip}",))
    assert events[:7] == [("LoginFailed", "bad_password", "203.0.113.9")] * 5 + [
        ("LoginThrottled", None, "203.0.113.9"), ("LoginFailed", "throttled", "203.0.113.9")]
    assert "AccountLocked" not in {e[0] for e in events}


def test_parallel_guesses_from_one_source_are_counted_one_by_one(identity, identity_config):
    nip = identity.pegawai()
    proxies = [ServiceRpcProxy("identity", identity_config,
                               context_data=signed({"client_address": "203.0.113.10"},
                                                           identity_config))
               for _ in range(10)]
    started = [proxy.start() for proxy in proxies]
    try:
        replies = [svc.login.call_async({"login": nip, "password": WRONG}) for svc in started]
        codes = []
        for reply in replies:
            with pytest.raises(SimasnError) as refused:
                reply.result()
            codes.append(refused.value.code)
    finally:
        for proxy in proxies:
            proxy.stop()
    # had they all been checked at once, all ten would have been tried (and answered 401)
    assert sorted(codes) == ["login_failed"] * 5 + ["login_throttled"] * 5


def test_wrong_current_passwords_count_like_login_failures(identity, identity_config,
                                                          database_url):
    nip = identity.pegawai()
    session = identity.login(nip)
    source = "198.51.100.7"
    context = {**context_of(session["principal"], "pegawai"), "client_address": source}
    with rpc(identity_config, context) as svc:
        for attempt in range(5):
            change = (svc.change_password if attempt % 2 else svc.change_contact)
            body = ({"current_password": WRONG, "new_password": "Kopi-Tubruk-2027!"}
                    if attempt % 2 else {"current_password": WRONG, "phone": "081234567890"})
            assert refusal(change, body)[:4] == ("forbidden", 403, "kata sandi saat ini salah",
                                                 "current_password")
        # the budget is spent: the right password waits too, here and at login from there
        assert refusal(svc.change_contact, {"current_password": PASSWORD,
                                            "phone": "081234567890"})[:2] == (
            "login_throttled", 429)
        assert refusal(svc.change_password, {"current_password": PASSWORD,
                                             "new_password": "Kopi-Tubruk-2027!"})[:2] == (
            "login_throttled", 429)
    with login_as(identity_config, source) as svc:
        assert refusal(svc.login, {"login": nip, "password": PASSWORD})[0] == "login_throttled"
    assert identity.login(nip)["tokens"]["status"] == "ok"  # from another address
    reasons = sql(database_url, "SELECT payload->>'reason' FROM identity.events WHERE "
                                "stream_id = %s AND event_type = 'LoginFailed' ORDER BY version",
                  (f"login:{nip}",))
    assert [r[0] for r in reasons][:5] == ["bad_current_password"] * 5
    account = sql(database_url, "SELECT phone FROM identity.accounts WHERE account_id = %s",
                  (nip,))
    assert account == [(None,)]


def test_through_the_gateway_a_throttled_source_gets_429_with_retry_after_and_codes_stay_401(
        start_gateway):
    client, people, _ = start_gateway(GATEWAY_LOGIN_BURST=50)
    nip, admin = people.pegawai(), people.staff(["administrator"])
    answers = [client.call("POST", "/api/auth/login", body={"login": nip, "password": WRONG})
               for _ in range(6)]
    assert [a.status for a in answers] == [401] * 5 + [429]
    throttled = answers[-1]
    assert throttled.code == "login_throttled" and throttled.body["field"] == "login"
    assert throttled.headers["Content-Type"] == "application/problem+json"
    assert 0 < int(throttled.headers["Retry-After"]) <= 30
    assert throttled.headers["Retry-After"] == str(throttled.body["errors"]["retry_after"])
    code = people.otp(admin)
    ok = client.call("POST", "/api/auth/login",
                     body={"login": admin, "password": PASSWORD, "otp": code})
    assert ok.status == 200
    reused = client.call("POST", "/api/auth/login",
                         body={"login": admin, "password": PASSWORD, "otp": code})
    assert (reused.status, reused.code, reused.body["field"]) == (401, "totp_invalid", "otp")


def test_behind_a_trusted_proxy_the_client_is_the_forwarded_address_and_nobody_picks_their_own():
    from services.gateway.domain import client_address, trusted_networks

    ingress = trusted_networks("10.42.0.0/16, 127.0.0.1")
    assert client_address("203.0.113.9", None, ingress) == "203.0.113.9"
    # an untrusted peer's header is ignored: a client cannot choose its address
    assert client_address("203.0.113.9", "198.51.100.1", ingress) == "203.0.113.9"
    assert client_address("203.0.113.9", "198.51.100.1", ()) == "203.0.113.9"
    # through the ingress: the address it added, not what the client wrote before it
    assert client_address("10.42.3.4", "198.51.100.1, 203.0.113.9", ingress) == "203.0.113.9"
    assert client_address("10.42.3.4", "203.0.113.9, 10.42.7.7", ingress) == "203.0.113.9"
    assert client_address("10.42.3.4", "bukan-alamat", ingress) == "10.42.3.4"
    with pytest.raises(ValueError):
        trusted_networks("10.42.0.0/33")


def test_behind_an_ingress_an_attacker_slows_only_their_own_address(start_gateway):
    client, people, _ = start_gateway(GATEWAY_LOGIN_BURST=50,
                                      GATEWAY_TRUSTED_PROXIES="127.0.0.1/32")
    nip = people.pegawai()

    def login(password, address):
        return client.call("POST", "/api/auth/login", body={"login": nip, "password": password},
                           headers={"X-Forwarded-For": address})

    assert [login(WRONG, "203.0.113.9").status for _ in range(5)] == [401] * 5
    assert login(PASSWORD, "203.0.113.9").code == "login_throttled"
    assert login(PASSWORD, "198.51.100.2").status == 200  # the owner, through the same ingress
