"""Nameko entrypoints of the identity service."""

from services.identity.events import REGISTRY
from shared.db import Database
from shared.service import ServiceBase


class IdentityService(ServiceBase):
    """Accounts, roles, OPD assignments, sessions and the access lifecycle."""

    name = "identity"
    db = Database(REGISTRY)
