"""Nameko entrypoints of the reporting service."""

from services.reporting.events import REGISTRY
from shared.db import Database
from shared.service import ServiceBase


class ReportingService(ServiceBase):
    """Monitoring and evaluation read models: completeness per OPD, yearly service evaluation."""

    name = "reporting"
    db = Database(REGISTRY)
