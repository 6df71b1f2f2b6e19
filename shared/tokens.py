"""Signed access tokens: short-lived HS256 JWTs that name an account and its session. Identity
issues them; the gateway may verify them itself (with the same key) before it asks identity
whether the session still stands."""

from __future__ import annotations

import time
from dataclasses import dataclass

import jwt

from shared.errors import Unauthorized


class TokenExpired(Unauthorized):
    code = "token_expired"
    title = "Sesi telah berakhir, silakan masuk kembali"


class TokenInvalid(Unauthorized):
    code = "token_invalid"
    title = "Token tidak sah"


@dataclass(frozen=True)
class AccessTokens:
    key: str
    ttl: int
    issuer: str = "simasn-jatim/identity"

    def issue(self, account_id: str, session_id: str) -> tuple[str, int]:
        now = int(time.time())
        claims = {"sub": account_id, "sid": session_id, "iat": now, "exp": now + self.ttl,
                  "iss": self.issuer, "typ": "access"}
        return jwt.encode(claims, self.key, algorithm="HS256"), self.ttl

    def decode(self, token: str) -> dict:
        try:
            claims = jwt.decode(token, self.key, algorithms=["HS256"], issuer=self.issuer,
                                options={"require": ["sub", "sid", "exp", "iat"]})
        except jwt.ExpiredSignatureError:
            raise TokenExpired("token akses sudah kedaluwarsa; perbarui dengan refresh token",
                               field="Authorization") from None
        except jwt.PyJWTError:
            raise TokenInvalid("token akses tidak sah", field="Authorization") from None
        if claims.get("typ") != "access":
            raise TokenInvalid("bukan token akses", field="Authorization")
        return claims
