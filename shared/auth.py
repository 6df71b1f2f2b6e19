"""Who is calling, as every service sees it. The gateway authenticates each request through
identity and puts the principal into the Nameko context data; services re-check role and OPD
scope themselves (defence in depth), they never trust the HTTP layer alone."""

from __future__ import annotations

from dataclasses import dataclass

from kombu import Exchange

from shared.errors import Forbidden, Unauthorized

ACTOR_ROLES = "actor_roles"
ACTOR_SCOPE = "actor_scope"
SESSION_ID = "session_id"

#: identity events after which a session may no longer be what identity last said of it: a
#: gateway that caches sessions drops the account's entries before identity answers the change
ACCESS_CHANGES = frozenset({"SessionRevoked", "AccountDisabled", "RoleRevoked", "RoleGranted",
                            "OpdScopeChanged", "TotpReset", "ClientSecretRotated",
                            "PasswordChanged", "ClientSuspended", "ClientReinstated",
                            "IntegrityPactSigned", "IntegrityPactRecorded",
                            "IntegrityPactWithdrawn"})
#: fanout exchange on which identity announces such changes to every caching gateway replica
SESSION_FENCE_EXCHANGE = Exchange("identity.session-fences", type="fanout", durable=False)
#: direct exchange on which replicas acknowledge a fence to identity's reply queue (never the
#: default exchange: a login allowed to publish there reaches any queue by name)
FENCE_ACK_EXCHANGE = Exchange("identity.fence-acks", type="direct", durable=False)


@dataclass(frozen=True)
class Principal:
    account_id: str
    roles: frozenset[str]
    opd_scope: frozenset[str]
    home_opd: str | None = None
    session_id: str | None = None

    @classmethod
    def from_context(cls, data: dict) -> Principal:
        actor = data.get("actor_id")
        if not actor:
            raise Unauthorized("perlu masuk (login) terlebih dahulu")
        return cls(actor, frozenset(data.get(ACTOR_ROLES) or ()),
                   frozenset(data.get(ACTOR_SCOPE) or ()), data.get("opd_id"),
                   data.get(SESSION_ID))

    def has(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    def require(self, *roles: str) -> None:
        if not self.has(*roles):
            raise Forbidden(f"hanya untuk peran: {', '.join(roles)}", field="role")

    def covers_opd(self, opd_id: str | None) -> bool:
        """True when this principal may act on data of `opd_id` (BKD roles cover all)."""
        if self.has("administrator", "auditor"):
            return True
        return "fasilitator" in self.roles and opd_id is not None and opd_id in self.opd_scope


def context_for(principal: dict, role_used: str | None = None) -> dict:
    """Context data the gateway sets for an authenticated request."""
    return {
        "actor_id": principal["account_id"],
        "actor_role": role_used,
        ACTOR_ROLES: list(principal["roles"]),
        ACTOR_SCOPE: list(principal["opd_scope"]),
        "opd_id": principal.get("home_opd"),
        SESSION_ID: principal.get("session_id"),
    }
