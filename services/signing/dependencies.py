"""The signing service's composition point: `SigningWork`, built in `setup()` from validated
config (never at import time)."""

from __future__ import annotations

import os
import uuid

from nameko.extensions import DependencyProvider

from services.signing import checkpoints, domain
from services.signing import levels as long_term
from services.signing.keystore import Keystore
from services.signing.signers import SignerPool
from services.signing.usecases import SYSTEM, issuing
from services.signing.usecases import checkpoints as checkpoint_usecases
from shared.claims import ClaimLocks
from shared.db import Database, ServiceDatabase
from shared.errors import ConfigError
from shared.objectstore import DocumentStore
from shared.witness import witness_from_config


class SigningWork(DependencyProvider):
    """The key store, the TSA and the runner that produces documents in this container: a
    document enqueued by a worker is produced once that worker's transaction has committed;
    the timer picks up what a crash or a missing key left behind. A document is claimed by a
    session lock of this process (`locks`), so a runner that died is replaced within a timer
    tick and a slow live one is never replaced."""

    def setup(self):
        config = self.container.config
        problems = domain.template_problems()
        if problems:
            raise ConfigError("; ".join(problems), field="output-documents.json")
        self.keystore = Keystore.from_config(config)
        self.verification_base = str(config.get("SIGNING_VERIFY_URL") or
                                     "https://simasn.bkd.jatimprov.go.id/verifikasi")
        try:
            processes = int(config.get("SIGNING_PROCESSES") if config.get("SIGNING_PROCESSES")
                            not in (None, "") else 1)
            if not 0 <= processes <= 32:
                raise ValueError
        except (TypeError, ValueError):
            raise ConfigError("SIGNING_PROCESSES harus bilangan 0-32",
                              field="SIGNING_PROCESSES") from None
        tsa_url = str(config.get("SIGNING_TSA_URL") or "") or None
        self.levels = long_term.levels_from_config(config, tsa_url)
        self.revocation_timeout = long_term.seconds(config, "SIGNING_REVOCATION_TIMEOUT", 10)
        self.verify_online = long_term.flag(config, "SIGNING_VERIFY_ONLINE")
        self.renew_window_days = long_term.seconds(config, "SIGNING_RENEW_WINDOW_DAYS", 90)
        self.signers = SignerPool(self.keystore, processes, tsa_url, self.levels.default,
                                  self.revocation_timeout)
        try:
            self.checkpoint_seconds = float(config.get("SIGNING_CHECKPOINT_SECONDS") or 60)
            if self.checkpoint_seconds <= 0:
                raise ValueError
        except (TypeError, ValueError):
            raise ConfigError("SIGNING_CHECKPOINT_SECONDS harus angka positif",
                              field="SIGNING_CHECKPOINT_SECONDS") from None
        self.merkle_cache = checkpoints.MerkleCache()
        self.witness = witness_from_config(config)
        self.witness_mark = checkpoint_usecases.WitnessMark()
        # the process id: an operator (or a test) sees which process holds a document
        self.runner = f"{self.container.service_name}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.pending: dict[str, list[str]] = {}
        self._locks = None

    @property
    def locks(self) -> ClaimLocks:
        """The claims of the documents this process produces (shared/claims.py): made on first
        use, once the database dependency has its engine."""
        if self._locks is None:
            self._locks = ClaimLocks(self.db_dependency.engine, "signing.document")
        return self._locks

    def get_dependency(self, worker_ctx):
        self.pending[worker_ctx.call_id] = []
        return _Handle(self, worker_ctx.call_id)

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        queued = self.pending.pop(worker_ctx.call_id, [])
        if exc_info is not None or not queued:
            return
        db = ServiceDatabase(self.db_dependency.engine, self.db_dependency.store, dict(SYSTEM),
                             self.db_dependency.config)
        store = self.store_dependency.store
        for document_id in queued:
            self.container.spawn_managed_thread(
                lambda d=document_id: issuing.run(db, store, self, d),
                identifier=f"sign-{document_id}")

    def worker_teardown(self, worker_ctx):
        self.pending.pop(worker_ctx.call_id, None)

    @property
    def db_dependency(self):
        return next(d for d in self.container.dependencies if isinstance(d, Database))

    @property
    def store_dependency(self):
        return next(d for d in self.container.dependencies if isinstance(d, DocumentStore))

    def level_for(self, document_key: str, document_type: str | None = None) -> str:
        return self.levels.level_for(document_key, document_type)

    @property
    def online_timeout(self) -> float | None:
        """Seconds to ask the CA's responder at verification, or None (offline only)."""
        return self.revocation_timeout if self.verify_online else None

    def attempt(self) -> str:
        return f"{self.runner}:{uuid.uuid4().hex[:8]}"

    def stop(self):
        self.signers.close()
        if self._locks is not None:
            self._locks.close()

    def kill(self):
        self.stop()


class _Handle:
    """What a worker gets: the provider's parts, and `after_commit(document_id)` to have a
    document produced once this worker's transaction has committed."""

    def __init__(self, work: SigningWork, call_id: str):
        self.work = work
        self.call_id = call_id

    def __getattr__(self, name):
        return getattr(self.work, name)

    def after_commit(self, document_id: str) -> None:
        self.work.pending.setdefault(self.call_id, []).append(document_id)
