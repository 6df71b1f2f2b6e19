"""Who is calling a service over RPC, proven rather than claimed.

Nameko carries a worker's context data (actor, roles, OPD scope, ...) in message headers that
the caller writes itself, so anyone holding a broker login could claim to be an administrator.
Every RPC that carries an actor therefore also carries a *caller token*: a short-lived EdDSA JWT
over exactly those actor fields, minted by the party entitled to vouch for them:

- issuer ``gateway``: the gateway, after identity authenticated the user's session. Only the
  gateway holds this private key; it may vouch for any human or machine role, never ``system``.
- issuer ``service``: a backend service (or the operator's CLI) acting on its own behalf
  (``actor_role`` "system", e.g. the signing runner reading a record). Backends hold this key;
  the internet-facing gateway does not, so a compromised gateway cannot claim to be a service.

Every service holds both public keys. An RPC whose headers name an actor without a valid token
is refused (`caller_unverified`) before a worker runs; a valid token's fields replace whatever
the headers said. A context with no actor at all is a plain service call: what a service may
call at all is limited by its own RabbitMQ user (shared/brokerauth.py)."""

from __future__ import annotations

import base64
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from shared.errors import ConfigError, Unauthorized

CALLER_TOKEN = "caller_token"  # noqa: S105 - the name of a context key, not a secret
#: the context keys a caller token vouches for (shared/auth.py, shared/context.py)
ACTOR_FIELDS = ("actor_id", "actor_role", "actor_roles", "actor_scope", "opd_id", "session_id",
                "client_address")
#: keys whose presence means "this call acts for someone" (or, for the client address, "on a
#: request from there": identity slows failed logins per address): without a token, refused
CLAIMING_FIELDS = ("actor_id", "actor_role", "actor_roles", "actor_scope", "session_id",
                   "client_address")
GATEWAY, SERVICE = "gateway", "service"
SYSTEM_ROLE = "system"
DEFAULT_TTL = 300
LEEWAY = 5
#: a token verified once is remembered this many seconds, at most VERIFIED_MAX of them. The
#: hops of one request reuse its token within the second it was minted (Callers.mint), so they
#: hit; one seen again later is verified again (two JWT decodes and an Ed25519 check, about
#: 0.24 ms). An LRU of 4096 tokens, as before, kept the last 4096 distinct (actor, second)
#: pairs, about 1.5 KiB each, for as long as it took to fill: an hour or more at a steady
#: load, the slow RSS rise the soak measured (docs/design/performance.md, "Memory").
VERIFIED_SECONDS = 30.0
VERIFIED_MAX = 4096


class CallerUnverified(Unauthorized):
    code = "caller_unverified"
    title = "Pemanggil tidak dapat dibuktikan"


def new_keypair() -> tuple[str, str]:
    """(private, public) as base64url of the raw 32-byte Ed25519 keys (for secrets files)."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return _b64(private), _b64(public)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _raw(text: str, key: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError):
        raw = b""
    if len(raw) != 32:
        raise ConfigError(f"config key {key}: must be a base64url Ed25519 key (32 bytes)",
                          field=key)
    return raw


@dataclass(frozen=True)
class Callers:
    """This process's view: the public keys it trusts, and the private key it may mint with."""

    gateway_public: str  # base64url, as configured
    service_public: str
    issuer: str | None  # GATEWAY or SERVICE; None: this process mints nothing
    private: Ed25519PrivateKey | None
    ttl: int
    #: the tokens minted in the current second, by their claims. Ed25519 signatures are
    #: deterministic and the claims hold whole seconds, so minting the same actor again within
    #: the second gives the very same token: it is reused, not signed again (a gateway request
    #: makes several RPCs for one actor; signing was 5-30% of the gateway's CPU, see
    #: docs/design/performance.md)
    _minted: dict = field(default_factory=dict, compare=False, hash=False, repr=False)

    # -- minting -----------------------------------------------------------------------------

    def mint(self, context: dict) -> str | None:
        """A token for the actor fields of `context`, or None when this process may not vouch
        for that actor (a backend never vouches for a user: it forwards the gateway's token)."""
        if self.private is None:
            return None
        actor = {k: context[k] for k in ACTOR_FIELDS if context.get(k) is not None}
        if self.issuer == SERVICE and not _is_system(actor):
            return None
        if self.issuer == GATEWAY and _is_system(actor):
            return None
        now = int(time.time())
        key = repr(actor)  # the fields in ACTOR_FIELDS order: equal claims, equal key
        minted = self._minted
        if minted.get("second") != now:
            minted.clear()
            minted["second"] = now
        token = minted.get(key)
        if token is None:
            token = jwt.encode({"iss": self.issuer, "iat": now, "exp": now + self.ttl,
                                "ctx": actor}, self.private, algorithm="EdDSA")
            if len(minted) < 4096:
                minted[key] = token
        return token

    def sign_context(self, context: dict) -> dict:
        """`context` with a caller token added (for standalone RPC clients: CLI, tests)."""
        out = {k: v for k, v in context.items() if k != CALLER_TOKEN}
        if any(out.get(k) is not None for k in CLAIMING_FIELDS):
            token = self.mint(out)
            if token is None:
                raise CallerUnverified(f"this process ({self.issuer or 'no key'}) may not vouch "
                                       f"for {out.get('actor_id')}", field=CALLER_TOKEN)
            out[CALLER_TOKEN] = token
        return out

    # -- verifying ---------------------------------------------------------------------------

    def verified(self, context: dict) -> dict:
        """The context with its actor fields taken from a valid caller token; a context that
        claims an actor without one raises CallerUnverified. No actor: returned as is."""
        token = context.get(CALLER_TOKEN)
        if not token:
            if any(context.get(k) is not None for k in CLAIMING_FIELDS):
                raise CallerUnverified("caller context without a caller token",
                                       field=CALLER_TOKEN)
            return {k: v for k, v in context.items() if k not in ACTOR_FIELDS}
        actor = _verify(self, token)
        out = {k: v for k, v in context.items() if k not in ACTOR_FIELDS}
        out.update(actor)
        return out


def _is_system(actor: dict) -> bool:
    roles = set(actor.get("actor_roles") or ())
    return actor.get("actor_role") == SYSTEM_ROLE and roles <= {SYSTEM_ROLE}


@lru_cache(maxsize=16)
def _public_key(text: str, name: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(_raw(text, name))


class _Recent:
    """Answers kept for `seconds` after they were stored, at most `size` of them: the oldest
    are dropped as new ones come, so what is kept is bounded by the rate of new keys, not by
    how long the process has run. Green threads never switch inside these calls (no I/O)."""

    def __init__(self, seconds: float, size: int):
        self.seconds, self.size = seconds, size
        self.entries: OrderedDict = OrderedDict()  # key -> (answer, stored at), oldest first

    def get(self, key):
        entry = self.entries.get(key)
        if entry is None or time.monotonic() - entry[1] > self.seconds:
            return None
        return entry[0]

    def put(self, key, answer) -> None:
        now = time.monotonic()
        entries = self.entries
        entries[key] = (answer, now)
        entries.move_to_end(key)
        cutoff = now - self.seconds
        while entries:
            oldest, (_, stored) = next(iter(entries.items()))
            if stored >= cutoff and len(entries) <= self.size:
                break
            entries.pop(oldest, None)

    def __len__(self) -> int:
        return len(self.entries)


_VERIFIED = _Recent(VERIFIED_SECONDS, VERIFIED_MAX)


def _decode(token: str, gateway_public: str, service_public: str) -> tuple[str, dict, int]:
    """Signature and shape checked once per distinct token while it is recent (a token crosses
    several hops within its second); a refusal is never kept."""
    key = (token, gateway_public, service_public)
    answer = _VERIFIED.get(key)
    if answer is None:
        answer = _checked(token, gateway_public, service_public)
        _VERIFIED.put(key, answer)
    return answer


def _checked(token: str, gateway_public: str, service_public: str) -> tuple[str, dict, int]:
    try:
        header_issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
    except jwt.PyJWTError:
        raise CallerUnverified("caller token malformed", field=CALLER_TOKEN) from None
    text = {GATEWAY: gateway_public, SERVICE: service_public}.get(header_issuer)
    if text is None:
        raise CallerUnverified("caller token from an unknown issuer", field=CALLER_TOKEN)
    try:
        key = _public_key(text, "CALLER_PUBLIC_KEY")
        claims = jwt.decode(token, key, algorithms=["EdDSA"], issuer=header_issuer,
                            options={"require": ["iss", "exp", "iat", "ctx"],
                                     "verify_exp": False})
    except jwt.PyJWTError:
        raise CallerUnverified("caller token signature invalid", field=CALLER_TOKEN) from None
    actor = claims["ctx"]
    if not isinstance(actor, dict) or set(actor) - set(ACTOR_FIELDS):
        raise CallerUnverified("caller token names unknown fields", field=CALLER_TOKEN)
    if header_issuer == SERVICE and not _is_system(actor):
        raise CallerUnverified("a service token may only vouch for a system caller",
                               field=CALLER_TOKEN)
    if header_issuer == GATEWAY and _is_system(actor):
        raise CallerUnverified("the gateway may not vouch for a system caller",
                               field=CALLER_TOKEN)
    return header_issuer, actor, int(claims["exp"])


def _verify(callers: Callers, token: str) -> dict:
    _, actor, expires = _decode(token, callers.gateway_public, callers.service_public)
    if expires + LEEWAY < time.time():
        raise CallerUnverified("caller token expired", field=CALLER_TOKEN)
    return dict(actor)


def from_config(config: dict, issuer: str) -> Callers:
    """Read the CALLER_* keys (a bad or missing key fails start-up naming it). `issuer` is who
    this process is: GATEWAY mints with CALLER_GATEWAY_KEY, SERVICE (every backend, the CLI)
    with CALLER_SERVICE_KEY; a process without its private key mints nothing."""
    private_name = "CALLER_GATEWAY_KEY" if issuer == GATEWAY else "CALLER_SERVICE_KEY"
    return _from_values(config.get("CALLER_GATEWAY_PUBLIC_KEY") or "",
                        config.get("CALLER_SERVICE_PUBLIC_KEY") or "",
                        config.get(private_name) or "", private_name,
                        str(config.get("CALLER_TOKEN_SECONDS") or DEFAULT_TTL), issuer)


@lru_cache(maxsize=32)
def _from_values(gateway_pub: str, service_pub: str, private_text: str, private_name: str,
                 ttl: str, issuer: str) -> Callers:
    if not gateway_pub:
        raise ConfigError("config key CALLER_GATEWAY_PUBLIC_KEY is not set",
                          field="CALLER_GATEWAY_PUBLIC_KEY")
    if not service_pub:
        raise ConfigError("config key CALLER_SERVICE_PUBLIC_KEY is not set",
                          field="CALLER_SERVICE_PUBLIC_KEY")
    try:
        seconds = int(ttl)
    except ValueError:
        seconds = 0
    if not 10 <= seconds <= 3600:
        raise ConfigError("config key CALLER_TOKEN_SECONDS: between 10 and 3600",
                          field="CALLER_TOKEN_SECONDS")
    private = None
    if private_text:
        private = Ed25519PrivateKey.from_private_bytes(_raw(private_text, private_name))
    _public_key(gateway_pub, "CALLER_GATEWAY_PUBLIC_KEY")  # fail at start-up, naming the key
    _public_key(service_pub, "CALLER_SERVICE_PUBLIC_KEY")
    return Callers(gateway_pub, service_pub, issuer if private else None, private, seconds)


def dev_keys() -> dict[str, str]:
    """A fresh set of CALLER_* values (for `make up`'s secrets file and for tests)."""
    gateway_key, gateway_pub = new_keypair()
    service_key, service_pub = new_keypair()
    return {"CALLER_GATEWAY_KEY": gateway_key, "CALLER_GATEWAY_PUBLIC_KEY": gateway_pub,
            "CALLER_SERVICE_KEY": service_key, "CALLER_SERVICE_PUBLIC_KEY": service_pub}
