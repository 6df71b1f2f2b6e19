"""Nameko entrypoints of the signing service."""

from services.signing.events import REGISTRY
from shared.db import Database
from shared.service import ServiceBase


class SigningService(ServiceBase):
    """Rendering and electronically signing output documents, public verification."""

    name = "signing"
    db = Database(REGISTRY)
