"""Gateway rules that are plain Python: request ids."""

import re
import uuid

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def request_id_from(header: str | None) -> str:
    """Keep a caller's X-Request-Id when it is a sane token, else mint one."""
    if header and _REQUEST_ID.match(header):
        return header
    return str(uuid.uuid4())


ROLE_PRECEDENCE = ("administrator", "auditor", "fasilitator", "pegawai", "machine")


def role_used(principal_roles, allowed) -> str | None:
    """The role a request acts in: the most privileged one the route allows."""
    for role in ROLE_PRECEDENCE:
        if role in principal_roles and role in allowed:
            return role
    return None


class RateLimiter:
    """Token buckets per key (client address, login name): `rate` requests per second on
    average, bursts up to `burst`. In memory, per gateway replica."""

    def __init__(self, rate: float, burst: int, clock=None, max_keys: int = 100_000):
        import time

        self.rate, self.burst = rate, burst
        self.clock = clock or time.monotonic
        self.max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}

    def allow(self, key: str) -> tuple[bool, float]:
        """(allowed, seconds until the next token) for one request under `key`."""
        now = self.clock()
        tokens, last = self._buckets.get(key, (float(self.burst), now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if len(self._buckets) >= self.max_keys and key not in self._buckets:
            self._buckets.clear()  # bounded memory under a flood of new keys
        if tokens >= 1:
            self._buckets[key] = (tokens - 1, now)
            return True, 0.0
        self._buckets[key] = (tokens, now)
        return False, (1 - tokens) / self.rate
