"""Rate limits kept in the gateway's database: the login buckets every replica shares, each
machine client's rate and daily quota (issue 17 part 4), and their pruning."""

from __future__ import annotations

import hashlib


class SharedRateLimiter:
    """Token buckets kept in the gateway's database, so every replica draws from the same
    bucket: N replicas do not allow N times the limit. One statement per request (an UPSERT that
    refills and takes a token under the row's lock); used for login-type routes, whose cost
    (Argon2) dwarfs it. Keys are stored as SHA-256 digests."""

    TAKE = (
        "INSERT INTO rate_buckets AS b (key_hash, tokens, updated_at) "
        "VALUES (:k, :burst - 1, clock_timestamp()) ON CONFLICT (key_hash) DO UPDATE SET "
        "tokens = least(:burst, b.tokens + extract(epoch FROM clock_timestamp() - b.updated_at)"
        " * :rate) - 1, updated_at = clock_timestamp() "
        "WHERE least(:burst, b.tokens + extract(epoch FROM clock_timestamp() - b.updated_at)"
        " * :rate) >= 1 RETURNING tokens")
    WAIT = (
        "SELECT (1 - least(:burst, tokens + extract(epoch FROM clock_timestamp() - updated_at)"
        " * :rate)) / :rate FROM rate_buckets WHERE key_hash = :k")

    def __init__(self, rate: float, burst: int):
        self.rate, self.burst = rate, burst

    def allow(self, db, key: str, rate: float | None = None,
              burst: int | None = None) -> tuple[bool, float]:
        """(allowed, seconds until the next token), through `db` (a ServiceDatabase); `rate`
        and `burst` override this limiter's for one key (a machine client's agreement)."""
        params = {"k": hashlib.sha256(key.encode()).hexdigest(),
                  "burst": float(burst or self.burst), "rate": float(rate or self.rate)}
        with db.transaction() as uow:
            if uow.execute(self.TAKE, params).first() is not None:
                return True, 0.0
            wait = uow.execute(self.WAIT, params).scalar()
        return False, max(0.0, float(wait or 0.0))


def take_quota(db, client_id: str, day, quota: int) -> int | None:
    """One unit of the client's quota for `day` (WIB), shared by every replica: the units used
    after this request, or None when the day's quota is used up (nothing taken)."""
    with db.transaction() as uow:
        return uow.execute(
            "INSERT INTO client_quotas AS q (client_id, day, used) VALUES (:c, :d, 1) "
            "ON CONFLICT (client_id, day) DO UPDATE SET used = q.used + 1 "
            "WHERE q.used < :quota RETURNING used",
            {"c": client_id, "d": day, "quota": quota}).scalar()


def prune_rate_buckets(uow) -> None:
    """Login rate buckets untouched for a day are full again: drop them; quota days older than
    a week are of no use either."""
    uow.execute("DELETE FROM rate_buckets WHERE updated_at < now() - interval '1 day'")
    uow.execute("DELETE FROM client_quotas WHERE day < current_date - 7")
