"""Nameko entrypoints of the requests service."""

from services.requests.events import REGISTRY
from shared.db import Database
from shared.service import ServiceBase


class RequestsService(ServiceBase):
    """The catalogue of the 18 layanan kepegawaian and their request workflows."""

    name = "requests"
    db = Database(REGISTRY)
