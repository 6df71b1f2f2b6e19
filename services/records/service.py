"""Nameko entrypoints of the records service."""

from services.records.events import REGISTRY
from shared.db import Database
from shared.service import ServiceBase


class RecordsService(ServiceBase):
    """The event-sourced employee master record (one aggregate per NIP) and its documents."""

    name = "records"
    db = Database(REGISTRY)
