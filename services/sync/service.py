"""Nameko entrypoints of the sync service."""

from services.sync.events import REGISTRY
from shared.db import Database
from shared.service import ServiceBase


class SyncService(ServiceBase):
    """Feeds from the 38 kabupaten/kota and the yearly reconciliation."""

    name = "sync"
    db = Database(REGISTRY)
