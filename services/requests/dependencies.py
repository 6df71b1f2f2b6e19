"""The requests service's composition point: its Nameko DependencyProviders beyond the shared
ones (`Database`, `Holidays`, `RpcProxy`), each built from validated config when the container
starts, never at import time."""

from __future__ import annotations

from nameko.extensions import DependencyProvider

from services.requests.events import REGISTRY
from services.requests.usecases import catalogue
from shared.config import validate_config
from shared.db import ServiceDatabase, make_engine
from shared.eventstore import EventStore
from shared.logging import get_logger

log = get_logger(__name__)


class CatalogueSeed(DependencyProvider):
    """At start, publishes the shipped catalogue entries the log does not hold yet (replicas
    racing here are harmless: the first append of a `layanan:` stream wins)."""

    def start(self):
        config = validate_config(self.container.config)
        engine = make_engine(config.service_database_url("requests"), schema="requests",
                             pool_size=1)
        db = ServiceDatabase(engine, EventStore("requests", REGISTRY),
                             {"actor_id": "system:requests", "actor_role": "system"})
        try:
            with db.transaction() as uow:
                added = catalogue.seed_catalogue(uow)
            if added:
                log.info("catalogue_seeded", layanan=added)
        except Exception:  # noqa: BLE001 - a replica that lost the race; the winner seeded
            log.warning("catalogue_seed_skipped", exc_info=True)
        finally:
            engine.dispose()
