"""Accounts and logins for tests that need people: an administrator bootstrapped like a new
installation, then everyone else through the service's own use cases."""

from __future__ import annotations

import json
import random
import time
import uuid
from contextlib import contextmanager

import pyotp
from nameko.standalone.rpc import ServiceRpcProxy

from services.identity.bootstrap import Bootstrap
from shared.config import validate_config
from tests.helpers import signed

PASSWORD = "Rahasia-Kuat-2026!"


def unique_nip() -> str:
    """A fresh NIP that also passes the records rules: birth date, TMT CPNS at 25, gender
    digit, sequence."""
    rng = random.Random(uuid.uuid4().int)
    year, month, day = rng.randint(1965, 1999), rng.randint(1, 12), rng.randint(1, 28)
    return (f"{year}{month:02d}{day:02d}{year + 25}{rng.randint(1, 12):02d}"
            f"{rng.choice('12')}{rng.randint(1, 999):03d}")


def employee_for(nip: str, opd: str = "dinkes") -> dict:
    """A records registration consistent with `nip`."""
    return {"nip": nip, "name": "Siti Rahayu", "status": "PNS", "opd_id": opd,
            "date_of_birth": f"{nip[0:4]}-{nip[4:6]}-{nip[6:8]}",
            "tmt_cpns": f"{nip[8:12]}-{nip[12:14]}-01", "gender": "L" if nip[14] == "1" else "P",
            "golongan": "III/a", "education_id": "40", "reason": "data awal"}


def unique_username(prefix: str = "user") -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


@contextmanager
def rpc(config: dict, context: dict | None = None, service: str = "identity"):
    with ServiceRpcProxy(service, config, context_data=signed(context or {}, config)) as proxy:
        yield proxy


def context_of(principal: dict, role: str | None = None) -> dict:
    return {"actor_id": principal["account_id"], "actor_role": role,
            "actor_roles": principal["roles"], "actor_scope": principal["opd_scope"],
            "opd_id": principal.get("home_opd"), "session_id": principal.get("session_id")}


def outbox_tokens(config: dict, to: str) -> list[str]:
    """Tokens sent to `to`, oldest first (reading the mail a person would get)."""
    tokens = []
    try:
        with open(config["NOTIFICATION_OUTBOX"], encoding="utf-8") as fh:
            for line in fh:
                message = json.loads(line)
                if message["to"] == to:
                    tokens.append(message["body"].rsplit(" ", 1)[-1])
    except FileNotFoundError:
        pass
    return tokens


class People:
    """Creates accounts with passwords (and TOTP for staff) and logs them in."""

    def __init__(self, config: dict):
        self.config = config
        self.boot = Bootstrap(validate_config(config), config)
        self.totp: dict[str, str] = {}
        self._last_step: dict[str, int] = {}

    def close(self):
        self.boot.close()

    def staff(self, roles: list[str], opd_scope: list[str] | None = None) -> str:
        username = unique_username(roles[0][:5])
        secret = pyotp.random_base32()
        self.boot.create({"login": username, "display_name": f"Staf {username}",
                          "email": f"{username}@jatimprov.go.id", "roles": roles,
                          "opd_scope": opd_scope or []}, PASSWORD, totp_secret=secret)
        self.totp[username] = secret
        return username

    def pegawai(self, opd: str = "dinkes") -> str:
        nip = unique_nip()
        self.boot.create({"login": nip, "display_name": "Siti Rahayu", "roles": ["pegawai"],
                          "email": f"{nip}@mail.test", "home_opd": opd}, PASSWORD)
        return nip

    def otp(self, login: str) -> str | None:
        """A code the server will take: each TOTP step is accepted once, and the server
        allows one step of clock drift either way. The step before the current one is never
        used: if the server's clock passes a step boundary before it checks the code (a loaded
        machine), that code would be two steps old and refused. So two logins fit in one
        30 s window."""
        secret = self.totp.get(login)
        if not secret:
            return None
        totp = pyotp.TOTP(secret)
        while True:
            current = int(time.time() // totp.interval)
            step = max(current, self._last_step.get(login, current - 1) + 1)
            if step <= current + 1:
                self._last_step[login] = step
                return totp.at(step * totp.interval)
            time.sleep(1)

    def login(self, login: str, device: str = "laptop") -> dict:
        with rpc(self.config, {"client_address": "10.0.0.1"}) as identity:
            payload = {"login": login, "password": PASSWORD, "device": device}
            code = self.otp(login)
            if code:
                payload["otp"] = code
            tokens = identity.login(payload)
            principal = identity.authenticate(tokens["access_token"])
        return {"tokens": tokens, "principal": principal}
