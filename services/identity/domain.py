"""Identity rules from Pergub Jatim 73/2020, as plain Python: who the actors are, who needs a
second factor, the password policy, how failed attempts slow their source, and the Account
aggregate rebuilt from its events."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta

from shared.folds import register_fold

PEGAWAI = "pegawai"
FASILITATOR = "fasilitator"
ADMINISTRATOR = "administrator"
AUDITOR = "auditor"
MACHINE = "machine"

STAFF_ROLES = (FASILITATOR, ADMINISTRATOR, AUDITOR)
#: staff roles held only while the person's integrity pact (pakta integritas) for it is in force
#: (issue 17 part 5: the seed asks it of fasilitator and administrators). Auditors sign none:
#: they only read, under the audit mandate of their own institution, and never change data.
PACT_ROLES = (FASILITATOR, ADMINISTRATOR)
#: the role a principal carries instead, while a role of PACT_ROLES it holds has no pact in
#: force: it reaches only its own account and its integrity pacts (never held, only derived)
UNSIGNED = "unsigned"
#: roles held by people (a machine client holds `machine` and signs in with its secret)
HUMAN_ROLES = (PEGAWAI, *STAFF_ROLES)
#: roles that must pass a TOTP second factor at every login: every human role that reads other
#: people's data (`can_view_account`; tested to be exactly those). A pegawai reads only their own.
TOTP_ROLES = frozenset({FASILITATOR, ADMINISTRATOR, AUDITOR})

KIND_PEGAWAI = "pegawai"
KIND_STAFF = "staff"
KIND_MACHINE = "machine"

NIP_PATTERN = re.compile(r"^\d{18}$")
USERNAME_PATTERN = re.compile(r"^[a-z][a-z0-9._-]{2,31}$")

COMMON_PASSWORDS = frozenset({
    "password", "password1", "password123", "passw0rd", "qwerty123", "12345678",
    "123456789", "1234567890", "admin123", "administrator", "bismillah", "bismillah123",
    "indonesia", "indonesia45", "jawatimur", "jatim123", "surabaya", "rahasia123",
    "pemprov123", "simasn123", "iloveyou", "welcome1", "p@ssw0rd", "asn12345",
})


def stream_for(account_id: str) -> str:
    return f"account:{account_id}"


def kind_of_login(login: str) -> str | None:
    if NIP_PATTERN.match(login):
        return KIND_PEGAWAI
    if USERNAME_PATTERN.match(login):
        return KIND_STAFF
    return None


@dataclass(frozen=True)
class PasswordPolicy:
    min_length: int = 10
    max_length: int = 128
    min_classes: int = 3

    def problems(self, password: str, login: str = "", display_name: str = "") -> list[str]:
        """Reasons (in Bahasa Indonesia, for the person choosing it) a password is refused."""
        out = []
        if len(password) < self.min_length:
            out.append(f"minimal {self.min_length} karakter")
        if len(password) > self.max_length:
            out.append(f"maksimal {self.max_length} karakter")
        classes = sum(bool(re.search(p, password))
                      for p in (r"[a-z]", r"[A-Z]", r"\d", r"[^A-Za-z0-9]"))
        if classes < self.min_classes:
            out.append(f"gunakan minimal {self.min_classes} dari: huruf kecil, huruf besar, "
                       "angka, simbol")
        lowered = password.lower()
        if lowered in COMMON_PASSWORDS or lowered.rstrip("!0123456789") in COMMON_PASSWORDS:
            out.append("terlalu umum dan mudah ditebak")
        if login and login.lower() in lowered:
            out.append("tidak boleh memuat NIP atau nama pengguna")
        for part in re.split(r"\W+", display_name.lower()):
            if len(part) >= 4 and part in lowered:
                out.append("tidak boleh memuat nama Anda")
                break
        return out


@dataclass(frozen=True)
class ThrottlePolicy:
    """How failed attempts (a wrong password at login, a wrong current password, a wrong OTP) slow
    the source they come from, counted per (client address, login). The first `free` failures
    cost nothing; each one after makes that source wait `base` doubled per further failure, at
    most `longest`. The account itself is never locked, so nobody can lock its owner out; an
    attacker's source slows down to one guess per `longest`."""

    free: int = 5
    base: timedelta = timedelta(seconds=30)
    longest: timedelta = timedelta(minutes=15)

    def wait_after(self, failures: int) -> timedelta | None:
        """How long a source waits after its `failures`-th consecutive failure (None: not)."""
        if failures < self.free:
            return None
        return min(self.longest, self.base * 2 ** min(failures - self.free, 32))


@dataclass
class Account:
    account_id: str = ""
    kind: str = ""
    display_name: str = ""
    email: str | None = None
    phone: str | None = None
    home_opd: str | None = None
    roles: set[str] = field(default_factory=set)
    opd_scope: set[str] = field(default_factory=set)
    status: str = "active"
    totp_enrolled: bool = False
    has_password: bool = False
    version: int = 0

    @property
    def needs_totp(self) -> bool:
        return bool(self.roles & TOTP_ROLES)

    def apply(self, event_type: str, payload: dict) -> None:
        handler = getattr(self, f"_on_{event_type}", None)
        if handler is not None:
            handler(payload)
        self.version += 1

    def _on_AccountRegistered(self, p):
        self.account_id = p["account_id"]
        self.kind = p["kind"]
        self.display_name = p["display_name"]
        self.email = p.get("email")
        self.phone = p.get("phone")
        self.home_opd = p.get("home_opd")
        self.roles = set(p["roles"])
        self.opd_scope = set(p.get("opd_scope", []))

    def _on_RoleGranted(self, p):
        self.roles.add(p["role"])
        self.opd_scope |= set(p.get("opd_scope", []))

    def _on_RoleRevoked(self, p):
        self.roles.discard(p["role"])
        if p["role"] == FASILITATOR:
            self.opd_scope = set()

    def _on_PasswordChanged(self, p):
        self.has_password = True

    def _on_ContactChanged(self, p):
        if "email" in p:
            self.email = p["email"]
        if "phone" in p:
            self.phone = p["phone"]

    def _on_TotpEnrolled(self, p):
        self.totp_enrolled = True

    def _on_TotpReset(self, p):
        self.totp_enrolled = False

    def _on_OpdScopeChanged(self, p):
        self.opd_scope = set(p["opd_scope"])

    def _on_AccountDisabled(self, p):
        self.status = "disabled"

    def _on_AccountEnabled(self, p):
        self.status = "active"

    def snapshot(self) -> dict:
        return {
            "account_id": self.account_id, "kind": self.kind,
            "display_name": self.display_name, "email": self.email, "phone": self.phone,
            "home_opd": self.home_opd, "roles": sorted(self.roles),
            "opd_scope": sorted(self.opd_scope), "status": self.status,
            "totp_enrolled": self.totp_enrolled, "has_password": self.has_password,
            "version": self.version,
        }


def replay(events) -> Account:
    account = Account()
    for event in events:
        account.apply(event.event_type, event.payload)
    return account


@register_fold("Account")
def _fold_account(state: dict, event) -> dict:
    account = Account()
    if state:
        account = Account(**{**state, "roles": set(state["roles"]),
                             "opd_scope": set(state["opd_scope"])})
    account.apply(event.event_type, event.payload)
    return account.snapshot()


def can_view_account(actor_id: str, actor_roles: set[str], actor_scope: set[str],
                     target: Account) -> bool:
    """Pegawai: only themselves. Fasilitator: pegawai of their own OPDs. Admin/auditor: all."""
    if actor_roles & {ADMINISTRATOR, AUDITOR}:
        return True
    if actor_id == target.account_id:
        return True
    if FASILITATOR in actor_roles and target.kind == KIND_PEGAWAI:
        return target.home_opd in actor_scope
    return False
