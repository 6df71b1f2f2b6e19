"""Accounts and logins for tests that need people: an administrator bootstrapped like a new
installation, then everyone else through the service's own use cases; and the mail they get,
from the outbox file or from a small SMTP server run by the test."""

from __future__ import annotations

import email
import email.policy
import json
import random
import socketserver
import threading
import uuid
from contextlib import contextmanager

import pyotp
from nameko.standalone.rpc import ServiceRpcProxy

from services.identity.usecases.bootstrap import Bootstrap
from shared.config import validate_config
from shared.testing import TotpSteps, wait_for
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


def _mailed_tokens(config: dict, to: str) -> list[str]:
    tokens = []
    try:
        with open(config["NOTIFICATION_OUTBOX"], encoding="utf-8") as fh:
            for line in fh:
                message = json.loads(line)
                if message["to"] == to and message["kind"] in ("activation", "reset"):
                    tokens.append(message["body"].rsplit(" ", 1)[-1])
    except FileNotFoundError:
        pass
    return tokens


def outbox_tokens(config: dict, to: str, at_least: int = 1, timeout: float = 20) -> list[str]:
    """Activation and reset tokens mailed to `to`, oldest first (reading the mail a person would
    get). Identity's delivery timer sends mail a moment after it is queued: this waits until at
    least `at_least` have arrived."""
    return wait_for(lambda: (found := _mailed_tokens(config, to)) and len(found) >= at_least
                    and found, timeout=timeout, message=f"{at_least} token(s) mailed to {to}")


class _TcpServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


class SmtpServer:
    """A small SMTP server speaking the protocol over a real socket, run by the test (no
    STARTTLS). `refuse` turns away that many next connections with `421`, as a relay that is
    down for a moment does."""

    def __init__(self):
        self.received: list[dict] = []
        self.refuse = 0
        self.refused = 0
        owner = self

        class Session(socketserver.StreamRequestHandler):
            def reply(self, line: str) -> None:
                self.wfile.write((line + "\r\n").encode())

            def handle(self):
                if owner.refuse:
                    owner.refuse -= 1
                    owner.refused += 1
                    self.reply("421 test relay busy, try again later")
                    return
                self.reply("220 test ESMTP")
                envelope = {"from": None, "to": [], "data": ""}
                while True:
                    line = self.rfile.readline().decode().rstrip("\r\n")
                    verb = line.split(" ", 1)[0].upper()
                    if verb in ("EHLO", "HELO"):
                        self.reply("250-test")
                        self.reply("250 AUTH PLAIN")
                    elif verb == "AUTH":
                        envelope["auth"] = line
                        self.reply("235 ok")
                    elif verb == "MAIL":
                        envelope["from"] = line
                        self.reply("250 ok")
                    elif verb == "RCPT":
                        envelope["to"].append(line)
                        self.reply("250 ok")
                    elif verb == "DATA":
                        self.reply("354 go on")
                        lines = []
                        while (data := self.rfile.readline().decode()) != ".\r\n":
                            lines.append(data[1:] if data.startswith("..") else data)
                        owner.received.append({**envelope, "data": "".join(lines)})
                        envelope = {"from": None, "to": [], "data": ""}
                        self.reply("250 queued")
                    elif verb == "QUIT" or not line:
                        self.reply("221 bye")
                        return
                    else:
                        self.reply("502 no")

        self._server = _TcpServer(("127.0.0.1", 0), Session)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def __enter__(self) -> SmtpServer:
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def mails_to(self, address: str) -> list[email.message.EmailMessage]:
        """The messages received for `address`, parsed, oldest first."""
        return [email.message_from_string(m["data"], policy=email.policy.default)
                for m in list(self.received)
                if any(f"<{address}>" in r for r in m["to"])]


class People:
    """Creates accounts with passwords (and TOTP for staff) and logs them in."""

    def __init__(self, config: dict):
        self.config = config
        self.boot = Bootstrap(validate_config(config), config)
        self.totp: dict[str, str] = {}
        self._steps = TotpSteps()

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

    def pact(self, login: str, role: str) -> str:
        """An integrity pact for `role` recorded from paper (the signed one: test_identity_pacts),
        so that the role may be granted; its pact id."""
        return self.boot.record_pact(login, role, f"uji {uuid.uuid4().hex[:8]}")

    def pegawai(self, opd: str = "dinkes") -> str:
        nip = unique_nip()
        self.boot.create({"login": nip, "display_name": "Siti Rahayu", "roles": ["pegawai"],
                          "email": f"{nip}@mail.test", "home_opd": opd}, PASSWORD)
        return nip

    def otp(self, login: str) -> str | None:
        """A code the server will take (shared.testing.TotpSteps: two logins a window)."""
        secret = self.totp.get(login)
        return self._steps.code(login, secret) if secret else None

    def login(self, login: str, device: str = "laptop") -> dict:
        with rpc(self.config, {"client_address": "10.0.0.1"}) as identity:
            payload = {"login": login, "password": PASSWORD, "device": device}
            code = self.otp(login)
            if code:
                payload["otp"] = code
            tokens = identity.login(payload)
            principal = identity.authenticate(tokens["access_token"])
        return {"tokens": tokens, "principal": principal}
