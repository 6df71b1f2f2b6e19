"""Gateway rules that are plain Python: request ids, client addresses, roles, rate limits."""

import ipaddress
import re
import uuid

from shared.errors import ValidationFailed

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
_IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9._:-]{8,100}$")
#: the methods that change something: an Idempotency-Key is taken on these only
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def request_id_from(header: str | None) -> str:
    """Keep a caller's X-Request-Id when it is a sane token, else mint one."""
    if header and _REQUEST_ID.match(header):
        return header
    return str(uuid.uuid4())


def idempotency_key_from(header: str | None) -> str | None:
    """The client's Idempotency-Key (8-100 letters, digits and . _ : -), or None if it sent
    none; a malformed one is refused rather than ignored, or a retry would not be recognised."""
    if header is None or header == "":
        return None
    if not _IDEMPOTENCY_KEY.match(header):
        raise ValidationFailed("Idempotency-Key: 8-100 karakter huruf, angka, atau . _ : - "
                               "(mis. sebuah UUID)", field="Idempotency-Key")
    return header


Networks = tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]


def trusted_networks(setting: str | None) -> Networks:
    """GATEWAY_TRUSTED_PROXIES: comma-separated addresses or CIDR networks; ValueError if bad."""
    return tuple(ipaddress.ip_network(part.strip(), strict=False)
                 for part in (setting or "").split(",") if part.strip())


def _trusted(address: str, trusted: Networks) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def client_address(peer: str | None, forwarded_for: str | None, trusted: Networks) -> str:
    """The client's address, as rate limits and identity's login throttling count it: the peer,
    unless the peer is a trusted proxy (an ingress), then the nearest address in X-Forwarded-For
    that is not a trusted proxy itself. Entries a client wrote into the header are never taken
    over those a trusted proxy added, so nobody picks their own address."""
    address = peer or "unknown"
    if not forwarded_for or not _trusted(address, trusted):
        return address
    for hop in reversed([h.strip() for h in forwarded_for.split(",")]):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return address
        if not _trusted(hop, trusted):
            return hop
        address = hop
    return address


ROLE_PRECEDENCE = ("administrator", "auditor", "fasilitator", "pegawai", "machine",
                   # a staff role held without its integrity pact in force (issue 17 part 5)
                   "unsigned")


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
