"""Creating accounts outside the request path: the first administrator of a new installation
and the demo province (seed.py). These are operator use cases: they run the same account use
cases as the service, as the `system` actor, in the operator's shell (its events say so).
Each fasilitator or administrator so created gets an integrity pact recorded as signed on paper
(`IntegrityPactRecorded`, usecases/pacts.py). `Bootstrap` is their runner there — what the
Nameko container is to service.py: it builds the database and the credential tooling from
config and opens one unit of work per call."""

from __future__ import annotations

from services.identity import domain
from services.identity.dependencies import IdentityKit, build_kit
from services.identity.events import REGISTRY
from services.identity.usecases import accounts, pacts
from shared.auth import Principal
from shared.config import ServiceConfig
from shared.db import ServiceDatabase, make_engine
from shared.eventstore import EventStore

SYSTEM = Principal("system:bootstrap", frozenset({"administrator"}), frozenset())


def create_account(uow, kit: IdentityKit, data: dict, password: str,
                   totp_secret: str | None = None):
    """Register an account and give it a password (and an enrolled TOTP secret); returns the
    account as loaded (its snapshot is the account after the changes)."""
    reason = data.get("reason", "bootstrap")
    account = accounts.register(uow, kit, SYSTEM, {**data, "reason": reason}, invite=False)
    loaded = accounts.load(uow, account["account_id"])
    # the bootstrap cannot ask the signing service: a fasilitator's or an administrator's pact
    # is one signed on paper, recorded with its reference (no staff role without a pact)
    for role in sorted(set(data["roles"]) & set(domain.PACT_ROLES)):
        pacts.record_paper(uow, loaded, role, data.get("pact_reference")
                           or f"pakta kertas, bootstrap {account['account_id']}", "bootstrap",
                           reason)
    accounts._check_password(kit, password, loaded)
    accounts._store_password(uow, kit, loaded, password, "initial")
    if totp_secret:
        uow.execute("UPDATE credentials SET totp_secret_sealed = :s WHERE account_id = :a",
                    {"s": kit.box.seal(totp_secret), "a": account["account_id"]})
        accounts.save(uow, loaded, [("TotpEnrolled", {})], reason)
    return loaded


def account_exists(uow, account_id: str) -> bool:
    return uow.execute("SELECT 1 FROM accounts WHERE account_id = :a",
                       {"a": account_id}).first() is not None


class Bootstrap:
    def __init__(self, config: ServiceConfig, raw_config: dict, actor: str = "system:bootstrap"):
        self.engine = make_engine(config.service_database_url("identity"), schema="identity")
        self.kit: IdentityKit = build_kit(raw_config)
        self.db = ServiceDatabase(self.engine, EventStore("identity", REGISTRY),
                                  {"actor_id": actor, "actor_role": "system"}, config)

    def close(self) -> None:
        self.engine.dispose()

    def create(self, data: dict, password: str, totp_secret: str | None = None) -> dict:
        """Register an account and give it a password (and an enrolled TOTP secret)."""
        with self.db.transaction(reason=data.get("reason", "bootstrap")) as uow:
            account = create_account(uow, self.kit, data, password, totp_secret)
        return account.snapshot()

    def record_pact(self, account_id: str, role: str, paper_reference: str,
                    reason: str = "pakta integritas kertas") -> str:
        """Record an integrity pact the person signed on paper (an operator's use case: the
        signed one is `POST /api/me/integrity-pacts`); its pact id."""
        with self.db.transaction(reason=reason) as uow:
            return pacts.record_paper(uow, accounts.load(uow, account_id), role,
                                      paper_reference, "bootstrap", reason)

    def exists(self, account_id: str) -> bool:
        with self.db.transaction() as uow:
            return account_exists(uow, account_id)
