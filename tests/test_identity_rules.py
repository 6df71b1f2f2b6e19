"""Identity rules that had no test of their own (docs/requirements.md I-1, I-2, I-12, I-15, I-16):
a login registered twice, an expired activation link, a password change or reset ending the other
sessions, the actor and reason of every administrator change, and an administrator who cannot
change their own status or roles. Real RPC, PostgreSQL and RabbitMQ."""

import psycopg2
import pytest

from shared.errors import Forbidden
from tests.helpers import raises_code
from tests.identity_helpers import PASSWORD, context_of, outbox_tokens, rpc, unique_nip


@pytest.fixture
def admin(identity):
    return identity.login(identity.staff(["administrator"]))


def as_admin(config, admin):
    return rpc(config, context_of(admin["principal"], "administrator"))


def events_of(database_url, stream_id):
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT event_type, metadata->>'actor_id', metadata->>'actor_role', "
                    "metadata->>'reason' FROM identity.events WHERE stream_id = %s "
                    "ORDER BY version", (stream_id,))
        return cur.fetchall()


def test_a_login_is_registered_once(identity, admin, identity_config):
    nip = identity.pegawai()
    with as_admin(identity_config, admin) as svc:
        with raises_code("account_exists") as twice:
            svc.register_account({"login": nip, "display_name": "Siti Rahayu",
                                  "email": "lain@mail.test", "roles": ["pegawai"],
                                  "home_opd": "dinkes", "reason": "salah input"})
    assert twice.value.code == "account_exists" and twice.value.field == "login"


def test_an_expired_activation_link_does_not_set_a_password(identity, admin, identity_config,
                                                            database_url):
    nip = unique_nip()
    with as_admin(identity_config, admin) as svc:
        svc.register_account({"login": nip, "display_name": "Budi", "email": f"{nip}@mail.test",
                              "roles": ["pegawai"], "home_opd": "dinkes", "reason": "CPNS"})
    (token,) = outbox_tokens(identity_config, f"{nip}@mail.test")
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:  # an hour has gone by
        cur.execute("UPDATE identity.one_time_tokens SET expires_at = now() - interval '1 s' "
                    "WHERE account_id = %s", (nip,))
    with rpc(identity_config) as svc:
        with pytest.raises(Exception) as refused:
            svc.complete_password_reset({"token": token, "new_password": "Kopi-Tubruk-77"})
    assert refused.value.code == "token_used"


def test_a_password_change_ends_the_other_sessions_and_a_reset_ends_all(identity, admin,
                                                                         identity_config):
    nip = identity.pegawai()
    laptop, phone = identity.login(nip, "laptop"), identity.login(nip, "hp")
    with rpc(identity_config, context_of(laptop["principal"], "pegawai")) as svc:
        svc.change_password({"current_password": PASSWORD, "new_password": "Kopi-Tubruk-77"})
        assert svc.authenticate(laptop["tokens"]["access_token"])["account_id"] == nip
        with raises_code("token_invalid"):
            svc.authenticate(phone["tokens"]["access_token"])

    with as_admin(identity_config, admin) as svc:
        svc.trigger_password_reset(nip, {"reason": "lupa kata sandi"})
    token = outbox_tokens(identity_config, f"{nip}@mail.test")[-1]
    with rpc(identity_config) as svc:
        svc.complete_password_reset({"token": token, "new_password": "Teh-Poci-2026!"})
        with raises_code("token_invalid"):  # the device that changed it too
            svc.authenticate(laptop["tokens"]["access_token"])


def test_every_administrator_change_names_its_actor_role_and_reason(identity, admin,
                                                                    identity_config,
                                                                    database_url):
    staff = identity.staff(["fasilitator"], ["dinkes"])
    nip = identity.pegawai()
    admin_id = admin["principal"]["account_id"]
    with as_admin(identity_config, admin) as svc:
        svc.set_opd_scope(staff, {"opd_scope": ["dinkes", "dinsos"], "reason": "SK penugasan"})
        svc.change_role(staff, True, {"role": "auditor", "opd_scope": [],
                                      "reason": "SK inspektorat"})
        svc.reset_totp(staff, {"reason": "ponsel hilang"})
        svc.set_account_status(nip, False, {"reason": "pensiun"})
        svc.set_account_status(nip, True, {"reason": "salah input"})
    changes = [e for e in events_of(database_url, f"account:{staff}") +
               events_of(database_url, f"account:{nip}")
               if e[0] in ("OpdScopeChanged", "RoleGranted", "TotpReset", "AccountDisabled",
                           "AccountEnabled")]
    assert [(t, reason) for t, _, _, reason in changes] == [
        ("OpdScopeChanged", "SK penugasan"), ("RoleGranted", "SK inspektorat"),
        ("TotpReset", "ponsel hilang"), ("AccountDisabled", "pensiun"),
        ("AccountEnabled", "salah input")]
    assert {(actor, role) for _, actor, role, _ in changes} == {(admin_id, "administrator")}
    with as_admin(identity_config, admin) as svc:  # and a reason is required
        with pytest.raises(Exception) as missing:
            svc.set_account_status(nip, False, {})
    assert missing.value.code == "validation_failed" and missing.value.field == "reason"


def test_an_administrator_cannot_change_their_own_status_or_roles(identity, admin,
                                                                  identity_config):
    me = admin["principal"]["account_id"]
    with as_admin(identity_config, admin) as svc:
        with pytest.raises(Forbidden):
            svc.set_account_status(me, False, {"reason": "coba"})
        with pytest.raises(Forbidden):
            svc.change_role(me, False, {"role": "administrator", "opd_scope": [],
                                        "reason": "coba"})
        with pytest.raises(Forbidden):
            svc.change_role(me, True, {"role": "auditor", "opd_scope": [], "reason": "coba"})
        assert svc.authenticate(admin["tokens"]["access_token"])["roles"] == ["administrator"]
