"""Failed attempts counted per (client address, login), in `login_throttle` (issue 12).

A wrong password at login, a wrong OTP and a wrong current password (changing one's password or
contact) all draw on the same budget. Past it, that source waits, longer after each further
failure (`domain.ThrottlePolicy`); the account is never locked, so an attacker cannot lock its
owner out, and the owner logging in from another address is not held back. An unknown login is
counted exactly like a real one, so the answers never tell whether an account exists.

`begin` takes the source's row lock for the whole transaction: parallel guesses from one source
on one login are checked one at a time, and none slips past the count."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from services.identity.domain import ThrottlePolicy
from services.identity.exceptions import LoginThrottled

#: rows untouched this long, whose wait is over, are forgotten (their count starts afresh)
RETENTION = "1 day"


@dataclass(frozen=True)
class Attempt:
    key_hash: str
    #: consecutive failures from this source on this login so far
    failures: int
    #: seconds this source must still wait before it may try again; None when it may try now
    wait: int | None


def key_of(client_address: str | None, login: str) -> str:
    """The row's key: neither the address nor the login string is stored as such."""
    return hashlib.sha256(f"{client_address or '-'}\n{login}".encode()).hexdigest()


def begin(uow, client_address: str | None, login: str) -> Attempt:
    """The source's standing for `login`, its row locked until the transaction ends."""
    key = key_of(client_address, login)
    row = uow.execute(
        "INSERT INTO login_throttle AS t (key_hash) VALUES (:k) ON CONFLICT (key_hash) DO "
        "UPDATE SET failures = t.failures RETURNING failures, CASE WHEN blocked_until > now() "
        "THEN ceil(extract(epoch FROM blocked_until - now()))::int END AS wait",
        {"k": key}).one()
    return Attempt(key, row.failures, row.wait)


def refusal(attempt: Attempt) -> LoginThrottled:
    seconds = max(1, attempt.wait or 1)
    return LoginThrottled(f"terlalu banyak percobaan gagal dari alamat ini; coba lagi dalam "
                          f"{seconds} detik", field="login", details={"retry_after": seconds})


def fail(uow, policy: ThrottlePolicy, attempt: Attempt) -> tuple[int, datetime | None]:
    """Count one more failure; returns the count and, when the source must now wait, until."""
    failures = attempt.failures + 1
    wait = policy.wait_after(failures)
    until = uow.execute(
        "UPDATE login_throttle SET failures = :f, updated_at = now(), blocked_until = "
        "now() + make_interval(secs => CAST(:w AS double precision)) WHERE key_hash = :k "
        "RETURNING blocked_until",
        {"f": failures, "w": wait.total_seconds() if wait else None, "k": attempt.key_hash}
    ).scalar_one()
    return failures, until


def succeed(uow, attempt: Attempt) -> None:
    """The right secret from this source: its count starts afresh."""
    uow.execute("DELETE FROM login_throttle WHERE key_hash = :k", {"k": attempt.key_hash})


def prune(uow) -> int:
    return uow.execute(
        "DELETE FROM login_throttle WHERE updated_at < now() - CAST(:r AS interval) AND "
        "(blocked_until IS NULL OR blocked_until < now())", {"r": RETENTION}).rowcount
