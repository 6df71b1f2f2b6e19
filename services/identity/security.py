"""Credential primitives: Argon2id password hashes, signed short-lived access tokens, opaque
refresh/reset tokens stored only as digests, TOTP, and encryption of TOTP secrets at rest.

Argon2 is CPU-bound C code that would freeze the eventlet hub for tens of milliseconds, so
hashing and verifying run in eventlet's thread pool."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet, InvalidToken
from eventlet import tpool

from shared.tokens import AccessTokens, TokenExpired, TokenInvalid  # noqa: F401 - re-exported


class Passwords:
    def __init__(self, time_cost: int, memory_kib: int):
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib,
                                      parallelism=1)
        # what an account without a password is checked against (made once, at start-up)
        self._dummy = self._hasher.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        return tpool.execute(self._hasher.hash, password)

    def verify(self, stored: str | None, password: str) -> bool:
        """Whether `password` matches `stored`. An unknown account or one without a password
        (`stored` empty) is verified against a dummy hash made with the same parameters, so
        it takes as long as a wrong password and timing does not tell who exists."""
        return tpool.execute(self._verify, stored or self._dummy, password) and bool(stored)

    def _verify(self, stored: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False


def new_token() -> str:
    return secrets.token_urlsafe(32)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


class SecretBox:
    """Encrypts TOTP secrets at rest (Fernet: AES-128-CBC + HMAC-SHA256)."""

    def __init__(self, key: str):
        self._fernet = Fernet(key.encode())

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise TokenInvalid("stored secret cannot be decrypted with this key") from None


def new_totp_secret() -> str:
    return pyotp.random_base32()


def totp_uri(secret: str, account_id: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=account_id, issuer_name="SIMASN Jatim")


def totp_step(secret: str, code: str, last_step: int | None, now: float | None = None
              ) -> int | None:
    """The time step a valid code belongs to (±1 step of drift), or None. A code whose step was
    already used is refused, so an observed code cannot be replayed."""
    if not code or not code.isdigit() or len(code) != 6:
        return None
    totp = pyotp.TOTP(secret)
    now = time.time() if now is None else now
    current = int(now // totp.interval)
    for step in (current, current - 1, current + 1):
        if same(totp.at(step * totp.interval), code):
            if last_step is not None and step <= last_step:
                return None
            return step
    return None
