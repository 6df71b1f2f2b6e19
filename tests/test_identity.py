"""Identity over real RPC, PostgreSQL and RabbitMQ: activation, password policy, TOTP, tokens,
sessions, revocation, and the Pergub 73/2020 rules on who may change what. (Failed attempts,
the second factor per role and racing codes: test_identity_security.py.)"""

import json
import time

import jwt
import psycopg2
import pyotp
import pytest

from shared.errors import Forbidden, NotFound, SimasnError, ValidationFailed
from tests.helpers import raises_code
from tests.identity_helpers import PASSWORD, context_of, outbox_tokens, rpc, unique_nip


@pytest.fixture
def admin(identity):
    return identity.login(identity.staff(["administrator"]))


def test_admin_registers_a_pegawai_who_activates_with_the_mailed_token(identity, admin,
                                                                        identity_config,
                                                                        database_url):
    config = identity_config
    nip = unique_nip()
    with rpc(config, context_of(admin["principal"], "administrator")) as svc:
        account = svc.register_account({
            "login": nip, "display_name": "Budi Santoso, S.Kom.", "email": "budi@mail.test",
            "roles": ["pegawai"], "home_opd": "dinkes", "reason": "CPNS formasi 2025"})
    assert account["kind"] == "pegawai" and account["home_opd"] == "dinkes"
    (token,) = outbox_tokens(config, "budi@mail.test")
    with rpc(config, context_of(admin["principal"], "administrator")) as svc:
        svc.trigger_password_reset(nip, {"reason": "email aktivasi tidak sampai"})
    (_, second) = outbox_tokens(config, "budi@mail.test", at_least=2)
    with rpc(config) as svc:
        with raises_code("login_failed"):
            svc.login({"login": nip, "password": PASSWORD})
        with raises_code("password_policy") as refused:
            svc.complete_password_reset({"token": token, "new_password": "budi1234"})
        assert "minimal 10 karakter" in refused.value.message
        svc.complete_password_reset({"token": token, "new_password": "Kopi-Tubruk-77"})
        with pytest.raises(Exception) as used:
            svc.complete_password_reset({"token": token, "new_password": "Kopi-Tubruk-78"})
        assert used.value.code == "token_used"
        tokens = svc.login({"login": nip, "password": "Kopi-Tubruk-77", "device": "hp"})
        with pytest.raises(Exception) as stale:  # the other link died with the first use
            svc.complete_password_reset({"token": second, "new_password": "Kopi-Tubruk-79"})
        assert stale.value.code == "token_used"
    assert tokens["status"] == "ok" and tokens["token_type"] == "Bearer"
    conn = psycopg2.connect(database_url)
    with conn.cursor() as cur:
        cur.execute("SELECT metadata->>'actor_id' FROM identity.events WHERE stream_id = %s "
                    "AND event_type = 'PasswordChanged'", (f"account:{nip}",))
        assert cur.fetchall() == [(nip,)], "the pegawai, not the system, set the password"
    conn.close()


@pytest.mark.parametrize("password,problem", [
    ("Pendek1!", "minimal 10 karakter"),
    ("semuahurufkecil", "gunakan minimal 3"),
    ("Password123!", "terlalu umum"),
    ("Rahayu-Siti-2026", "tidak boleh memuat nama"),
])
def test_password_policy_explains_each_refusal(identity, identity_config, password, problem):
    nip = identity.pegawai()
    session = identity.login(nip)
    with rpc(identity_config, context_of(session["principal"], "pegawai")) as svc:
        with raises_code("password_policy") as refused:
            svc.change_password({"current_password": PASSWORD, "new_password": password})
    assert problem in refused.value.message
    assert refused.value.field == "new_password"


def test_unknown_account_and_wrong_password_look_the_same(identity, identity_config):
    nip = identity.pegawai()
    with rpc(identity_config) as svc:
        with raises_code("login_failed") as unknown:
            svc.login({"login": unique_nip(), "password": PASSWORD})
        with raises_code("login_failed") as wrong:
            svc.login({"login": nip, "password": "Bukan-Sandinya-1"})
    assert unknown.value.to_dict() == wrong.value.to_dict()


def test_fasilitator_must_enroll_totp_then_always_give_a_fresh_code(identity, admin,
                                                                  identity_config):
    username = "fasil" + unique_nip()[-6:]
    with rpc(identity_config, context_of(admin["principal"], "administrator")) as svc:
        svc.register_account({"login": username, "display_name": "Fasilitator Dinkes",
                              "email": f"{username}@jatimprov.go.id", "roles": ["fasilitator"],
                              "opd_scope": ["dinkes"], "reason": "penunjukan SK Kadinkes"})
    (token,) = outbox_tokens(identity_config, f"{username}@jatimprov.go.id")
    with rpc(identity_config) as svc:
        svc.complete_password_reset({"token": token, "new_password": PASSWORD})
        first = svc.login({"login": username, "password": PASSWORD})
        assert first["status"] == "totp_enrollment_required" and "access_token" not in first
        totp = pyotp.TOTP(first["totp_secret"])
        wrong = "000000" if totp.now() != "000000" else "000001"
        with pytest.raises(SimasnError) as refused:
            svc.confirm_totp({"enrollment_token": first["enrollment_token"], "otp": wrong})
        assert refused.value.code == "totp_invalid"
        enrolled = svc.confirm_totp({"enrollment_token": first["enrollment_token"],
                                     "otp": totp.now(), "device": "laptop kantor"})
        assert enrolled["status"] == "ok"
        with raises_code("totp_required"):
            svc.login({"login": username, "password": PASSWORD})
        with pytest.raises(SimasnError) as replay:  # the code just used cannot be reused
            svc.login({"login": username, "password": PASSWORD, "otp": totp.now()})
        assert replay.value.code == "totp_invalid" and "sudah dipakai" in replay.value.message
        later = totp.at(time.time() + 30)
        assert svc.login({"login": username, "password": PASSWORD, "otp": later})["status"] == "ok"


def test_tokens_expired_tampered_or_forged_are_refused(identity, identity_config):
    session = identity.login(identity.pegawai())
    access = session["tokens"]["access_token"]
    key = identity_config["TOKEN_SIGNING_KEY"]
    claims = jwt.decode(access, key, algorithms=["HS256"], issuer="simasn-jatim/identity")
    expired = jwt.encode({**claims, "exp": int(time.time()) - 5}, key, algorithm="HS256")
    forged = jwt.encode({**claims, "sub": "someone-else"}, "another-key-" + "y" * 32,
                        algorithm="HS256")
    header, body, signature = access.split(".")
    tampered = ".".join([header, body[:-2] + ("AA" if body[-2:] != "AA" else "BB"), signature])
    with rpc(identity_config) as svc:
        assert svc.authenticate(access)["account_id"] == session["principal"]["account_id"]
        with raises_code("token_expired"):
            svc.authenticate(expired)
        for bad in (forged, tampered, "not-a-token", ""):
            with raises_code("token_invalid"):
                svc.authenticate(bad)


def test_logout_disable_and_role_removal_take_effect_at_once(identity, admin, identity_config):
    nip = identity.pegawai()
    session = identity.login(nip)
    access = session["tokens"]["access_token"]
    with rpc(identity_config, context_of(session["principal"], "pegawai")) as svc:
        svc.logout()
        with raises_code("token_invalid"):
            svc.authenticate(access)

    other = identity.login(nip)
    with rpc(identity_config, context_of(admin["principal"], "administrator")) as svc:
        svc.set_account_status(nip, False, {"reason": "pensiun"})
        with raises_code("token_invalid"):
            svc.authenticate(other["tokens"]["access_token"])
        with pytest.raises(Exception):
            svc.refresh({"refresh_token": other["tokens"]["refresh_token"]})

    auditor_name = identity.staff(["auditor", "fasilitator"], ["dinsos"])
    auditor = identity.login(auditor_name)
    assert set(auditor["principal"]["roles"]) == {"auditor", "fasilitator"}
    with rpc(identity_config, context_of(admin["principal"], "administrator")) as svc:
        svc.change_role(auditor_name, False, {"role": "auditor", "reason": "mutasi"})
        assert svc.authenticate(auditor["tokens"]["access_token"])["roles"] == ["fasilitator"]


def test_refresh_rotates_and_a_replayed_refresh_token_ends_the_session(identity,
                                                                     identity_config):
    session = identity.login(identity.pegawai())
    old = session["tokens"]["refresh_token"]
    with rpc(identity_config) as svc:
        new = svc.refresh({"refresh_token": old})
        assert new["refresh_token"] != old and new["session_id"] == session["tokens"]["session_id"]
        with raises_code("token_invalid"):
            svc.refresh({"refresh_token": old})  # stolen copy used: whole session revoked
        with raises_code("token_invalid"):
            svc.authenticate(new["access_token"])


def test_sessions_are_per_device_listed_and_revocable_by_the_owner(identity, identity_config):
    nip = identity.pegawai()
    laptop = identity.login(nip, device="laptop")
    phone = identity.login(nip, device="ponsel")
    stranger = identity.login(identity.pegawai())
    with rpc(identity_config, context_of(laptop["principal"], "pegawai")) as svc:
        sessions = svc.list_sessions()
        assert sorted(s["device"] for s in sessions) == ["laptop", "ponsel"]
        assert [s["current"] for s in sessions if s["device"] == "laptop"] == [True]
        svc.revoke_session(phone["tokens"]["session_id"])
        with raises_code("token_invalid"):
            svc.authenticate(phone["tokens"]["access_token"])
    with rpc(identity_config, context_of(stranger["principal"], "pegawai")) as svc:
        with pytest.raises(NotFound):  # someone else's session is not even visible
            svc.revoke_session(laptop["tokens"]["session_id"])


def test_only_the_pegawai_changes_their_contact_and_only_with_their_password(
        identity, admin, identity_config):
    nip = identity.pegawai()
    pegawai = identity.login(nip)
    with rpc(identity_config, context_of(pegawai["principal"], "pegawai")) as svc:
        with pytest.raises(Forbidden) as wrong:
            svc.change_contact({"current_password": "Tebakan-Salah-1", "phone": "081234567890"})
        assert wrong.value.field == "current_password"
        changed = svc.change_contact({"current_password": PASSWORD, "phone": "081234567890"})
        assert changed["phone"] == "081234567890"
    # An administrator has no way to name someone else's account in these calls: they always
    # act on the caller's own account, so the pegawai's data cannot be reached.
    with rpc(identity_config, context_of(admin["principal"], "administrator")) as svc:
        with pytest.raises(Forbidden):
            svc.change_contact({"current_password": PASSWORD + "x", "email": "x@evil.test"})
        with pytest.raises(ValidationFailed):
            svc.change_password({"account_id": nip, "current_password": PASSWORD,
                                 "new_password": "Diambil-Alih-99"})
        reset = svc.trigger_password_reset(nip, {"reason": "lupa kata sandi"})
        assert reset["delivered_to"].endswith("@mail.test") and "***" in reset["delivered_to"]
        assert "token" not in json.dumps(reset)
        account = svc.get_account(nip)
    assert account["phone"] == "081234567890" and account["email"] == f"{nip}@mail.test"


def test_fasilitator_sees_only_pegawai_of_their_own_opds(identity, identity_config):
    # OPDs no other test uses, so the lists below hold only this test's people
    mine, theirs = identity.pegawai("dkp"), identity.pegawai("desdm")
    fasilitator = identity.login(identity.staff(["fasilitator"], ["dkp", "dishut"]))
    with rpc(identity_config, context_of(fasilitator["principal"], "fasilitator")) as svc:
        assert svc.get_account(mine)["account_id"] == mine
        with pytest.raises(NotFound):
            svc.get_account(theirs)
        listed = svc.list_accounts({"opd_id": "dkp"})["items"]
        assert mine in {a["account_id"] for a in listed}
        assert {a["home_opd"] for a in listed} == {"dkp"}
        with pytest.raises(Forbidden):
            svc.list_accounts({"opd_id": "desdm"})
        everything = svc.list_accounts({"limit": 200})
        assert {a["home_opd"] for a in everything["items"]} <= {"dkp", "dishut"}
        assert theirs not in {a["account_id"] for a in everything["items"]}
        with pytest.raises(Forbidden):
            svc.register_account({"login": unique_nip(), "display_name": "X", "email": "x@y.id",
                                  "roles": ["pegawai"], "home_opd": "dinkes", "reason": "coba"})


def test_no_password_token_or_secret_reaches_events_or_logs(identity, admin, identity_config,
                                                           database_url, capfd):
    nip = identity.pegawai()
    session = identity.login(nip)
    secrets = [PASSWORD, session["tokens"]["access_token"], session["tokens"]["refresh_token"],
               identity_config["TOKEN_SIGNING_KEY"], identity_config["SECRET_ENCRYPTION_KEY"]]
    with rpc(identity_config, context_of(session["principal"], "pegawai")) as svc:
        svc.change_password({"current_password": PASSWORD, "new_password": "Baru-Lagi-2027!"})
        secrets.append("Baru-Lagi-2027!")
        with raises_code("password_policy") as refused:
            svc.change_password({"current_password": "Baru-Lagi-2027!",
                                 "new_password": "Baru-Lagi-2027!"})
    with rpc(identity_config, context_of(admin["principal"], "administrator")) as svc:
        svc.trigger_password_reset(nip, {"reason": "uji"})
    secrets += outbox_tokens(identity_config, f"{nip}@mail.test")
    secrets += list(identity.totp.values())
    conn = psycopg2.connect(database_url)
    with conn.cursor() as cur:
        cur.execute("SELECT payload::text || metadata::text FROM identity.events")
        stored = "\n".join(row[0] for row in cur.fetchall())
    conn.close()
    logs = capfd.readouterr()
    for secret in secrets:
        assert secret not in stored
        assert secret not in logs.err and secret not in logs.out
        assert secret not in str(refused.value.to_dict())


def test_the_first_administrator_is_created_from_the_command_line(
        identity, identity_config, database_url, monkeypatch, capsys):
    import io

    from simasn_cli.main import main

    monkeypatch.setenv("SIMASN_DATABASE_URL", database_url)
    monkeypatch.delenv("SIMASN_CONFIG", raising=False)
    for key in ("TOKEN_SIGNING_KEY", "SECRET_ENCRYPTION_KEY", "ARGON2_TIME_COST",
                "ARGON2_MEMORY_KIB", "NOTIFICATION_OUTBOX"):
        monkeypatch.setenv(f"SIMASN_{key}", str(identity_config[key]))
    username = "kepala" + unique_nip()[-6:]
    monkeypatch.setattr("sys.stdin", io.StringIO("Pertama-Kali-2026!\n"))
    assert main(["admin", "create", "--username", username, "--name", "Kepala Bidang",
                 "--email", "kabid@bkd.jatimprov.go.id", "--password-stdin"]) == 0
    uri = capsys.readouterr().out.strip().splitlines()[-1].strip()
    secret = pyotp.parse_uri(uri).secret
    with rpc(identity_config) as svc:
        tokens = svc.login({"login": username, "password": "Pertama-Kali-2026!",
                            "otp": pyotp.TOTP(secret).now()})
        assert svc.authenticate(tokens["access_token"])["roles"] == ["administrator"]
    monkeypatch.setattr("sys.stdin", io.StringIO("Pertama-Kali-2026!\n"))
    assert main(["admin", "create", "--username", username, "--name", "X", "--email",
                 "x@y.id", "--password-stdin"]) == 1
    assert "sudah ada" in capsys.readouterr().err


def test_lost_authenticator_reset_by_another_administrator_means_enrolling_again(
        identity, admin, identity_config):
    username = identity.staff(["fasilitator"], ["dinkes"])
    before = identity.login(username)
    with rpc(identity_config, context_of(admin["principal"], "administrator")) as svc:
        svc.reset_totp(username, {"reason": "ponsel hilang, laporan 30/11"})
        with pytest.raises(Forbidden):
            svc.reset_totp(admin["principal"]["account_id"], {"reason": "diri sendiri"})
    with rpc(identity_config) as svc:
        with raises_code("token_invalid"):
            svc.authenticate(before["tokens"]["access_token"])
        again = svc.login({"login": username, "password": PASSWORD})
    assert again["status"] == "totp_enrollment_required"


def test_a_fasilitator_scope_can_be_narrowed(identity, admin, identity_config):
    kept, dropped = identity.pegawai("dkp"), identity.pegawai("dishut")
    username = identity.staff(["fasilitator"], ["dkp", "dishut"])
    session = identity.login(username)
    with rpc(identity_config, context_of(admin["principal"], "administrator")) as svc:
        narrowed = svc.set_opd_scope(username, {"opd_scope": ["dkp"], "reason": "SK baru"})
        assert narrowed["opd_scope"] == ["dkp"]
        with pytest.raises(ValidationFailed):
            svc.set_opd_scope(username, {"opd_scope": [], "reason": "kosong"})
    with rpc(identity_config) as svc:
        principal = svc.authenticate(session["tokens"]["access_token"])
    assert principal["opd_scope"] == ["dkp"]
    with rpc(identity_config, context_of(principal, "fasilitator")) as svc:
        assert svc.get_account(kept)["account_id"] == kept
        with pytest.raises(NotFound):
            svc.get_account(dropped)
