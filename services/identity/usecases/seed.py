"""The demo province behind `simasn seed demo`: an administrator, an auditor, fasilitators of a
handful of OPDs and a few hundred pegawai with realistic names and NIPs.

`plan()` decides who exists, from a seed alone (same seed, same people). `seed_demo()` creates
them through `Bootstrap`, i.e. the identity use cases, so every account is an event stream with
actor `system:bootstrap`. Accounts that already exist are skipped, so a second run changes
nothing. Passwords and TOTP secrets are returned to the caller to show once; they never enter a
log or an event."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from services.identity.dependencies import IdentityConfigSchema
from services.identity.domain import TOTP_ROLES, PasswordPolicy
from services.identity.exceptions import AccountExists
from services.identity.security import new_totp_secret, totp_uri
from services.identity.usecases.bootstrap import Bootstrap
from shared.errors import ValidationFailed
from shared.reference import opds

DEFAULT_SEED = 2026
DEFAULT_PEGAWAI = 300
MAX_PEGAWAI = 20_000
#: one password for every demo account, so a demo user can log in as anyone
DEMO_PASSWORD = "Simasn-Demo#2026"  # noqa: S105 - a demo password, printed for its users
EMAIL_DOMAIN = "demo.simasn.local"
REASON = "data demo (simasn seed demo)"

#: the OPDs of the demo and the share of the pegawai each holds
OPD_WEIGHTS = {
    "dindik": 30, "dinkes": 18, "rsud-soetomo": 18, "bkd": 9, "dinsos": 9, "dishub": 8,
    "bappeda": 8,
}
#: (username, OPDs it may act on); fas.dinkes2 also holds the RSUD, as fasilitators may
FASILITATORS = (
    ("fas.bkd1", ("bkd",)),
    ("fas.dinkes1", ("dinkes",)),
    ("fas.dinkes2", ("dinkes", "rsud-soetomo")),
    ("fas.dindik1", ("dindik",)),
    ("fas.dindik2", ("dindik",)),
    ("fas.dinsos1", ("dinsos",)),
    ("fas.dishub1", ("dishub",)),
    ("fas.bappeda1", ("bappeda",)),
    ("fas.rsud-soetomo1", ("rsud-soetomo",)),
)

# NIP PNS (Perka BKN 22/2007): birth date yyyymmdd, TMT CPNS yyyymm, gender 1/2, sequence
BIRTH_YEARS = (1965, 2000)
CPNS_AGE = (22, 35)
#: the newest TMT CPNS a demo NIP carries (a fixed date, so a seed always gives the same NIPs)
LATEST_TMT = date(2025, 6, 1)
MALE, FEMALE = "1", "2"

FIRST_NAMES = {
    MALE: ("Agus", "Ahmad", "Achmad", "Andi", "Arif", "Bambang", "Bayu", "Budi", "Dedi", "Didik",
           "Dimas", "Eko", "Fajar", "Gilang", "Hadi", "Hari", "Hendra", "Heru", "Imam", "Joko",
           "Lukman", "Mochammad", "Muhammad", "Rizky", "Rudi", "Slamet", "Sugeng", "Taufik",
           "Teguh", "Wahyu", "Yusuf", "Yudha", "Adi", "Bagus", "Fikri", "Galih"),
    FEMALE: ("Siti", "Sri", "Dewi", "Endah", "Fitri", "Indah", "Nurul", "Rina", "Ratna", "Ayu",
             "Dian", "Ika", "Yuliana", "Wulan", "Retno", "Anik", "Puspita", "Novita", "Anisa",
             "Nadia", "Rahma", "Umi", "Kartika", "Mega", "Lilik", "Erna", "Yuni", "Ninik"),
}
MIDDLE_NAMES = {
    MALE: ("Adi", "Dwi", "Tri", "Nur", "Budi", "Eka", "Wahyu", "Setya"),
    FEMALE: ("Dwi", "Tri", "Nur", "Eka", "Ayu", "Sari", "Putri", "Kurnia"),
}
LAST_NAMES = {
    MALE: ("Santoso", "Wijaya", "Prasetyo", "Setiawan", "Hidayat", "Kurniawan", "Saputra",
           "Susanto", "Purnomo", "Suryadi", "Wibowo", "Hartono", "Nugroho", "Firmansyah",
           "Maulana", "Fauzi", "Anwar", "Effendi", "Arifin", "Hakim", "Ramadhan", "Sutrisno",
           "Prakoso", "Syahputra", "Rachman", "Zainuddin"),
    FEMALE: ("Rahayu", "Lestari", "Wulandari", "Handayani", "Sulistyowati", "Setyaningsih",
             "Puspitasari", "Astuti", "Kusumawati", "Rahmawati", "Fitriani", "Permatasari",
             "Susanti", "Anggraini", "Purwaningsih", "Maharani", "Safitri", "Utami"),
}
#: (front title, back titles) by kind of work; chosen by OPD in `_gelar`
GELAR = {
    "medis": (("dr.", ""), ("dr.", "Sp.PD."), ("dr.", "Sp.A."), ("dr.", "M.Kes."),
              ("", "S.Kep., Ns."), ("", "A.Md.Kep."), ("", "S.KM."), ("", "S.Farm., Apt."),
              ("", "A.Md.Keb.")),
    "pendidikan": (("", "S.Pd."), ("", "S.Pd., M.Pd."), ("Drs.", "M.Pd."), ("", "S.Si."),
                   ("", "S.Pd.I.")),
    "teknik": (("Ir.", "M.T."), ("", "S.T."), ("", "S.T., M.T."), ("", "S.E."), ("", "M.Si."),
               ("", "S.Kom.")),
    "umum": (("", "S.Sos."), ("", "S.H."), ("", "S.AP."), ("", "S.Kom."), ("", "S.E."),
             ("", "S.E., M.M."), ("Drs.", "M.Si."), ("", "A.Md.")),
}
GELAR_OF_OPD = {"dinkes": "medis", "rsud-soetomo": "medis", "dindik": "pendidikan",
                "dishub": "teknik", "bappeda": "teknik"}
PHONE_PREFIXES = ("0811", "0812", "0813", "0821", "0822", "0852", "0853", "0856", "0857",
                  "0858", "0877", "0878", "0881", "0895", "0896")


@dataclass(frozen=True)
class DemoAccount:
    login: str
    display_name: str
    roles: tuple[str, ...]
    home_opd: str | None = None
    opd_scope: tuple[str, ...] = ()
    phone: str | None = None

    @property
    def email(self) -> str:
        return f"{self.login}@{EMAIL_DOMAIN}"

    @property
    def needs_totp(self) -> bool:
        return bool(set(self.roles) & TOTP_ROLES)

    def registration(self) -> dict:
        """The AccountCreate payload `Bootstrap.create` takes."""
        data = {"login": self.login, "display_name": self.display_name, "email": self.email,
                "roles": list(self.roles), "opd_scope": list(self.opd_scope), "reason": REASON}
        if self.home_opd:
            data["home_opd"] = self.home_opd
        if self.phone:
            data["phone"] = self.phone
        return data


@dataclass
class SeedReport:
    """What a run did. `totp_secrets` holds only accounts created in this run (an existing
    account keeps the secret it was given); show it once and do not log it."""

    accounts: list[DemoAccount]
    created: list[DemoAccount] = field(default_factory=list)
    skipped: list[DemoAccount] = field(default_factory=list)
    totp_secrets: dict[str, str] = field(default_factory=dict)
    password: str = DEMO_PASSWORD
    seconds: float = 0.0

    def totp_uri(self, login: str) -> str:
        return totp_uri(self.totp_secrets[login], login)


# -- who exists --------------------------------------------------------------------------

def plan(seed: int = DEFAULT_SEED, pegawai: int = DEFAULT_PEGAWAI) -> list[DemoAccount]:
    """The demo's accounts, staff first; the same seed and count always give the same list."""
    if not 0 <= pegawai <= MAX_PEGAWAI:
        raise ValidationFailed(f"jumlah pegawai harus 0..{MAX_PEGAWAI}", field="pegawai")
    unknown = sorted(set(OPD_WEIGHTS) - set(opds()))
    if unknown:
        raise ValidationFailed(f"OPD demo tidak ada di data referensi: {', '.join(unknown)}",
                               field="opd")
    rng = random.Random(seed)  # noqa: S311 - demo data reproducible from a seed; nothing secret comes from it
    accounts = [
        DemoAccount("admin.bkd", _staff_name(rng), ("administrator",), home_opd="bkd"),
        DemoAccount("auditor.inspektorat", _staff_name(rng), ("auditor",),
                    home_opd="inspektorat"),
    ]
    for username, scope in FASILITATORS:
        accounts.append(DemoAccount(username, _staff_name(rng), ("fasilitator",),
                                    home_opd=scope[0], opd_scope=scope))
    taken: set[str] = set()
    for opd_id in _spread(pegawai, rng):
        gender = rng.choice((MALE, FEMALE))
        nip = make_nip(rng, gender, taken)
        phone = _phone(rng) if rng.random() < 0.85 else None
        accounts.append(DemoAccount(nip, _person_name(rng, gender, opd_id), ("pegawai",),
                                    home_opd=opd_id, phone=phone))
    _check_password_fits(accounts)
    return accounts


def _spread(count: int, rng: random.Random) -> list[str]:
    """`count` OPD codes in the shares of OPD_WEIGHTS (largest remainder), shuffled."""
    total = sum(OPD_WEIGHTS.values())
    exact = {opd_id: count * weight / total for opd_id, weight in OPD_WEIGHTS.items()}
    shares = {opd_id: int(value) for opd_id, value in exact.items()}
    by_remainder = sorted(exact, key=lambda o: exact[o] - shares[o], reverse=True)
    for opd_id in by_remainder[:count - sum(shares.values())]:
        shares[opd_id] += 1
    out = [opd_id for opd_id, n in shares.items() for _ in range(n)]
    rng.shuffle(out)
    return out


def make_nip(rng: random.Random, gender: str, taken: set[str]) -> str:
    """An 18-digit NIP PNS that holds together: a real birth date in BIRTH_YEARS, a TMT CPNS at
    an age in CPNS_AGE and not after LATEST_TMT, the gender digit, and a sequence number that
    keeps it unique among `taken` (which it joins)."""
    while True:
        year, month = rng.randint(*BIRTH_YEARS), rng.randint(1, 12)
        birth = date(year, month, rng.randint(1, _days_in_month(year, month)))
        tmt = date(birth.year + rng.randint(*CPNS_AGE), rng.randint(1, 12), 1)
        if tmt <= LATEST_TMT and CPNS_AGE[0] <= _age_on(birth, tmt) <= CPNS_AGE[1]:
            break
    prefix = f"{birth:%Y%m%d}{tmt:%Y%m}{gender}"
    sequence = rng.randint(1, 9)
    while f"{prefix}{sequence:03d}" in taken:
        sequence += 1
    nip = f"{prefix}{sequence:03d}"
    taken.add(nip)
    return nip


def _days_in_month(year: int, month: int) -> int:
    following = date(year + month // 12, month % 12 + 1, 1)
    return (following - date(year, month, 1)).days


def _age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def _person_name(rng: random.Random, gender: str, opd_id: str) -> str:
    parts = [rng.choice(FIRST_NAMES[gender])]
    if rng.random() < 0.3:
        parts.append(rng.choice(MIDDLE_NAMES[gender]))
    if rng.random() < 0.9:  # many Javanese names are a single word
        parts.append(rng.choice(LAST_NAMES[gender]))
    name = " ".join(dict.fromkeys(parts))
    if rng.random() < 0.2:  # SMA/SMK graduates carry no gelar
        return name
    front, back = rng.choice(GELAR[GELAR_OF_OPD.get(opd_id, "umum")])
    return f"{front} {name}".strip() + (f", {back}" if back else "")


def _staff_name(rng: random.Random) -> str:
    gender = rng.choice((MALE, FEMALE))
    first, last = rng.choice(FIRST_NAMES[gender]), rng.choice(LAST_NAMES[gender])
    front, back = rng.choice(GELAR["umum"])
    return f"{front} {first} {last}".strip() + (f", {back}" if back else "")


def _phone(rng: random.Random) -> str:
    return rng.choice(PHONE_PREFIXES) + "".join(str(rng.randint(0, 9))
                                                for _ in range(rng.randint(7, 8)))


def _check_password_fits(accounts: list[DemoAccount]) -> None:
    """Fail before writing anything if a name or login would make the policy refuse the demo
    password (it refuses passwords holding the login or a part of the name)."""
    policy = PasswordPolicy()
    for account in accounts:
        problems = policy.problems(DEMO_PASSWORD, account.login, account.display_name)
        if problems:
            raise ValidationFailed(f"kata sandi demo ditolak untuk {account.login}: "
                                   + "; ".join(problems), field="password")


# -- creating them -------------------------------------------------------------------------

def seed_demo(bootstrap: Bootstrap, accounts: list[DemoAccount],
              on_pegawai: Callable[[], None] | None = None) -> SeedReport:
    """Create every planned account that does not exist yet, with the demo password (and a
    fresh TOTP secret for staff who need one). `on_pegawai` is called after each pegawai, for a
    progress bar."""
    report = SeedReport(accounts)
    started = time.monotonic()
    for account in accounts:
        if bootstrap.exists(account.login):
            report.skipped.append(account)
        else:
            secret = new_totp_secret() if account.needs_totp else None
            try:
                bootstrap.create(account.registration(), DEMO_PASSWORD, totp_secret=secret)
            except AccountExists:  # created by a run alongside this one
                report.skipped.append(account)
            else:
                report.created.append(account)
                if secret:
                    report.totp_secrets[account.login] = secret
        if on_pegawai is not None and "pegawai" in account.roles:
            on_pegawai()
    report.seconds = time.monotonic() - started
    return report


def counts(accounts: list[DemoAccount]) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
    """({opd: {role: n}}, {role: n}); a fasilitator counts in every OPD it holds."""
    per_opd: dict[str, dict[str, int]] = {}
    per_role: dict[str, int] = {}
    for account in accounts:
        for role in account.roles:
            per_role[role] = per_role.get(role, 0) + 1
            for opd_id in (account.opd_scope or (account.home_opd,)):
                if opd_id:
                    row = per_opd.setdefault(opd_id, {})
                    row[role] = row.get(role, 0) + 1
    return per_opd, per_role


def summary(report: SeedReport, seed: int, raw_config: dict) -> list[str]:
    """What a run did, for the operator's terminal: counts per OPD and role, how long it took,
    the logins, and the credentials (shown here only; never log these lines)."""
    cost = IdentityConfigSchema().load(raw_config)
    new = len(report.created)
    per_account = f", {report.seconds / new * 1000:.0f} ms per new account" if new else ""
    out = [f"demo province (seed {seed}): {new} accounts created, {len(report.skipped)} "
           f"already there, in {report.seconds:.1f}s{per_account}",
           f"(Argon2id time_cost={cost['ARGON2_TIME_COST']}, memory="
           f"{cost['ARGON2_MEMORY_KIB']} KiB hashes each password: most of that time)", ""]
    per_opd, per_role = counts(report.accounts)
    roles = ("pegawai", "fasilitator", "administrator", "auditor")
    names = opds()
    out.append(f"{'OPD':14} {'name':42}" + "".join(f"{r:>14}" for r in roles))
    for opd_id in sorted(per_opd, key=lambda o: (-per_opd[o].get("pegawai", 0), o)):
        out.append(f"{opd_id:14} {names[opd_id][:42]:42}"
                   + "".join(f"{per_opd[opd_id].get(r, 0):>14}" for r in roles))
    out.append(f"{'total':57}" + "".join(f"{per_role.get(r, 0):>14}" for r in roles))
    out += ["(a fasilitator counts in every OPD it holds)", "",
            "Staff log in with their username and also give a code from an authenticator app",
            "holding the OTP secret below."]
    first_pegawai: dict[str, DemoAccount] = {}
    for account in report.accounts:
        if "pegawai" in account.roles:
            first_pegawai.setdefault(account.home_opd, account)
            continue
        otp = "(no OTP)"
        if account.needs_totp:
            otp = report.totp_secrets.get(account.login, "(existed: OTP secret unchanged)")
        where = ",".join(account.opd_scope or (account.home_opd,))
        out.append(f"  {account.login:20} {account.roles[0]:14} {where:20} {otp}")
    out.append("Pegawai log in with their NIP; one per OPD:")
    for opd_id, account in sorted(first_pegawai.items()):
        out.append(f"  {account.login:20} {opd_id:14} {account.display_name}")
    out += ["", f"Password of every demo account: {report.password}"]
    if report.totp_secrets:
        out.append("OTP secrets as otpauth:// URIs (paste, or turn into a QR code to scan):")
        out += [f"  {report.totp_uri(login)}" for login in report.totp_secrets]
    out.append("These credentials are shown here only: never logged, never in an event.")
    return out
