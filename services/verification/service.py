"""Nameko entrypoints of the verification service."""

from services.verification.events import REGISTRY
from shared.db import Database
from shared.service import ServiceBase


class VerificationService(ServiceBase):
    """Verification queues for fasilitator and administrator, document checks."""

    name = "verification"
    db = Database(REGISTRY)
