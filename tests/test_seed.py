"""`simasn seed demo`: a demo province made through identity's own use cases — the right people
in the right OPDs, NIPs that hold together, staff who can log in with the printed credentials,
nothing duplicated by a second run, and no credential in the event log."""

import json
import re
from datetime import date

import pyotp
import pytest

from services.identity.service import IdentityService
from services.identity.usecases import seed
from services.identity.usecases.bootstrap import Bootstrap
from shared.config import validate_config
from simasn_cli.main import main
from tests.helpers import fetch
from tests.identity_helpers import rpc

PEGAWAI = 30


def nip_parts(nip: str) -> tuple[date, date, str]:
    """Read an 18-digit NIP PNS (Perka BKN 22/2007) back; fails if it does not hold together."""
    assert re.fullmatch(r"\d{18}", nip), nip
    birth = date(int(nip[0:4]), int(nip[4:6]), int(nip[6:8]))  # a real calendar date
    assert 1 <= int(nip[12:14]) <= 12, f"{nip}: TMT CPNS month"
    tmt = date(int(nip[8:12]), int(nip[12:14]), 1)
    assert nip[14] in "12", f"{nip}: gender digit"
    assert nip[15:] != "000", f"{nip}: sequence starts at 001"
    return birth, tmt, nip[14]


def age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def assert_plausible(nip: str) -> None:
    birth, tmt, _ = nip_parts(nip)
    assert 1965 <= birth.year <= 2000, nip
    assert age_on(birth, tmt) >= 18, f"{nip}: CPNS before 18"
    assert 22 <= age_on(birth, tmt) <= 35, nip
    assert tmt <= date.today(), nip


def test_the_plan_is_deterministic_and_every_nip_holds_together():
    accounts = seed.plan(2026, 300)
    assert accounts == seed.plan(2026, 300)
    assert accounts != seed.plan(7, 300)
    pegawai = [a for a in accounts if a.roles == ("pegawai",)]
    assert len(pegawai) == 300 and len({a.login for a in accounts}) == len(accounts)
    for account in pegawai:
        assert_plausible(account.login)
        assert account.home_opd in seed.OPD_WEIGHTS
        assert account.email == f"{account.login}@demo.simasn.local"
    assert {nip_parts(a.login)[2] for a in pegawai} == {"1", "2"}
    assert any(a.display_name.startswith("dr. ") for a in pegawai)
    assert any(", S." in a.display_name for a in pegawai)
    per_opd, per_role = seed.counts(accounts)
    assert per_role == {"administrator": 1, "auditor": 1, "fasilitator": 9, "pegawai": 300}
    assert all(per_opd[o].get("fasilitator") for o in seed.OPD_WEIGHTS)
    assert [a.opd_scope for a in accounts if len(a.opd_scope) > 1] == [("dinkes",
                                                                       "rsud-soetomo")]


def test_without_identity_keys_the_command_names_the_missing_key(monkeypatch, capsys):
    for name in ("SIMASN_CONFIG", "SIMASN_TOKEN_SIGNING_KEY", "SIMASN_SECRET_ENCRYPTION_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SIMASN_TOKEN_SIGNING_KEY", "k" * 48)
    assert main(["seed", "demo", "--pegawai", "1"]) == 1
    assert "SIMASN_SECRET_ENCRYPTION_KEY is not set" in capsys.readouterr().err


@pytest.fixture
def seed_env(monkeypatch, identity_config, database_url):
    """The CLI's environment: this run's database and the identity keys of `identity_config`."""
    monkeypatch.delenv("SIMASN_CONFIG", raising=False)
    env = {"DATABASE_URL": database_url, "AMQP_URI": identity_config["AMQP_URI"],
           "LOG_LEVEL": "WARNING"}
    env.update({k: identity_config[k] for k in ("TOKEN_SIGNING_KEY", "SECRET_ENCRYPTION_KEY",
                                                "ARGON2_TIME_COST", "ARGON2_MEMORY_KIB",
                                                "NOTIFICATION_OUTBOX")})
    for key, value in env.items():
        monkeypatch.setenv(f"SIMASN_{key}", str(value))
    return identity_config


demo_rows = fetch


def test_seed_demo_creates_a_province_once_whose_staff_log_in_with_what_it_printed(
        seed_env, database_url, container_factory, capsys):
    config = seed_env
    assert main(["seed", "demo", "--pegawai", str(PEGAWAI)]) == 0
    printed = capsys.readouterr()
    password = re.search(r"Password of every demo account: (\S+)", printed.out).group(1)
    secrets = dict(re.findall(r"^  (\S+) +(?:administrator|fasilitator|auditor) +\S+ +"
                              r"([A-Z2-7]{32})$", printed.out, re.MULTILINE))
    assert set(secrets) == ({"admin.bkd", "auditor.inspektorat"}
                            | {name for name, _ in seed.FASILITATORS})
    assert printed.out.count(password) == 1, "the password is printed once"
    for credential in [password, *secrets.values()]:
        assert credential not in printed.err, "credentials never reach the logs"

    plan = seed.plan(seed.DEFAULT_SEED, PEGAWAI)
    rows = demo_rows(database_url, "SELECT account_id, home_opd, roles, opd_scope, totp_enrolled "
                                   "FROM identity.accounts WHERE email LIKE %s",
                     ("%@demo.simasn.local",))
    assert sorted(r[0] for r in rows) == sorted(a.login for a in plan)
    per_opd: dict = {}
    for _, home_opd, roles, opd_scope, _ in rows:
        for role in roles:
            for opd_id in opd_scope or [home_opd]:
                per_opd.setdefault(opd_id, {}).setdefault(role, 0)
                per_opd[opd_id][role] += 1
    assert per_opd == seed.counts(plan)[0]
    for account_id, _, roles, _, totp_enrolled in rows:
        if roles == ["pegawai"]:
            assert_plausible(account_id)
        assert totp_enrolled == (account_id in secrets)

    container_factory(IdentityService, config).start()
    nip = next(a.login for a in plan if a.home_opd == "dinkes" and a.roles == ("pegawai",))
    with rpc(config, {"client_address": "10.0.0.9"}) as identity:
        logins = {}
        for login in ("admin.bkd", "fas.dinkes2", "auditor.inspektorat", nip):
            payload = {"login": login, "password": password, "device": "uji seed"}
            if login in secrets:
                payload["otp"] = pyotp.TOTP(secrets[login]).now()
            tokens = identity.login(payload)
            logins[login] = identity.authenticate(tokens["access_token"])
    assert logins["admin.bkd"]["roles"] == ["administrator"]
    assert logins["fas.dinkes2"]["opd_scope"] == ["dinkes", "rsud-soetomo"]
    assert logins["auditor.inspektorat"]["roles"] == ["auditor"]
    assert logins[nip]["home_opd"] == "dinkes" and logins[nip]["roles"] == ["pegawai"]

    events_before = demo_rows(database_url, "SELECT count(*) FROM identity.events")[0][0]
    boot = Bootstrap(validate_config(config), config)
    try:
        again = seed.seed_demo(boot, plan)
    finally:
        boot.close()
    assert again.created == [] and len(again.skipped) == len(plan) and not again.totp_secrets

    # every demo pegawai has a record that holds together, written as events
    records = dict(demo_rows(database_url, "SELECT nip, record::text FROM records.employees"))
    pegawai = [a for a in plan if a.roles == ("pegawai",)]
    assert {a.login for a in pegawai} <= set(records)
    sample = json.loads(records[nip])
    assert sample["opd_id"] == "dinkes" and sample["histories"]["pangkat"]
    assert sample["histories"]["pangkat"][0]["golongan"] == "III/a"
    assert sample["histories"]["kinerja"] and sample["histories"]["gaji_berkala"]
    assert main(["seed", "demo", "--pegawai", str(PEGAWAI)]) == 0  # again: nothing new
    assert f"0 registered with their histories, {len(pegawai)} already there" in \
        capsys.readouterr().out
    assert demo_rows(database_url, "SELECT count(*) FROM identity.events")[0][0] == events_before

    stored = demo_rows(database_url, "SELECT payload::text || metadata::text FROM identity.events")
    stored = "\n".join(r[0] for r in stored)
    assert "system:bootstrap" in stored
    for credential in [password, *secrets.values()]:
        assert credential not in stored
