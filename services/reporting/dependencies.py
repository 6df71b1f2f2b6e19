"""Nameko extensions of the reporting service: the projection watch's timer and settings."""

from __future__ import annotations

import os
import time
import uuid

from eventlet.semaphore import Semaphore
from nameko.extensions import DependencyProvider
from nameko.timer import Timer

from shared.claims import ClaimLocks
from shared.errors import ConfigError

WATCH_SECONDS = 30.0
STALL_SECONDS = 300.0


def _seconds(config: dict, key: str, default: float) -> float:
    raw = config.get(key, default)
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = 0.0
    if not 0.1 <= value <= 86400:
        raise ConfigError(f"config key {key}: seconds between 0.1 and 86400", field=key)
    return value


class WatchTimer(Timer):
    """Fires every PROJECTION_WATCH_SECONDS (default 30), the first time at start."""

    def __init__(self, **kwargs):
        super().__init__(WATCH_SECONDS, eager=True, **kwargs)

    def setup(self):
        self.interval = _seconds(self.container.config, "PROJECTION_WATCH_SECONDS",
                                 WATCH_SECONDS)


watch_timer = WatchTimer.decorator

SNAPSHOT_SECONDS = 3600.0


class SnapshotTimer(Timer):
    """Fires every MONEV_SNAPSHOT_SECONDS (default 3600), the first time at start: the day's
    completeness snapshot per OPD is refreshed each time (usecases/completeness.py)."""

    def __init__(self, **kwargs):
        super().__init__(SNAPSHOT_SECONDS, eager=True, **kwargs)

    def setup(self):
        self.interval = _seconds(self.container.config, "MONEV_SNAPSHOT_SECONDS",
                                 SNAPSHOT_SECONDS)


snapshot_timer = SnapshotTimer.decorator


class ProjectionSettings(DependencyProvider):
    """`self.projection_settings.stall_seconds`: how long a read model may stand behind its
    source without moving before it is an alarm (PROJECTION_STALL_SECONDS, default 300)."""

    def setup(self):
        self.stall_seconds = _seconds(self.container.config, "PROJECTION_STALL_SECONDS",
                                      STALL_SECONDS)

    def get_dependency(self, worker_ctx):
        return self


EXPORT_POLL_SECONDS = 1.0
#: an official list up to this many rows is listed inside its signed PDF; a longer one is
#: bound by its SHA-256 (docs/design/reporting.md "Exports")
EXPORT_SIGNED_MAX_ROWS = 2000


class ExportTimer(Timer):
    """Fires every EXPORT_POLL_SECONDS (default 1): the export worker's tick."""

    def __init__(self, **kwargs):
        super().__init__(EXPORT_POLL_SECONDS, eager=True, **kwargs)

    def setup(self):
        self.interval = _seconds(self.container.config, "EXPORT_POLL_SECONDS",
                                 EXPORT_POLL_SECONDS)


export_timer = ExportTimer.decorator


class ExportSettings(DependencyProvider):
    """`self.export_settings`: the runner's name (process and a fresh token), the process's
    claims on exports (`locks`, shared/claims.py), and how long an official list may be to be
    listed in its signed document (EXPORT_SIGNED_MAX_ROWS, 1-5000)."""

    def setup(self):
        config = self.container.config
        self._locks = None
        raw = config.get("EXPORT_SIGNED_MAX_ROWS", EXPORT_SIGNED_MAX_ROWS)
        try:
            self.signed_max_rows = int(raw)
        except (TypeError, ValueError):
            self.signed_max_rows = 0
        if not 1 <= self.signed_max_rows <= 5000:
            raise ConfigError("config key EXPORT_SIGNED_MAX_ROWS: 1-5000 baris",
                              field="EXPORT_SIGNED_MAX_ROWS")
        self.runner = f"{self.container.service_name}-{os.getpid()}-{uuid.uuid4().hex[:12]}"

    def locks(self, engine) -> ClaimLocks:
        """This process's claims on exports, on a connection of `engine` of its own."""
        if self._locks is None:
            self._locks = ClaimLocks(engine, "reporting.export")
        return self._locks

    def stop(self):
        if self._locks is not None:
            self._locks.close()

    def kill(self):
        self.stop()

    def get_dependency(self, worker_ctx):
        return self


PUBLIC_SECONDS = 300.0


class PublicFigures(DependencyProvider):
    """The public statistics as last computed, kept for PUBLIC_STATISTICS_SECONDS (default
    300): anyone may ask for them without logging in, so a visitor's call must not cost five
    scans of the whole list; one worker computes them while the others wait for its answer."""

    def setup(self):
        self.seconds = _seconds(self.container.config, "PUBLIC_STATISTICS_SECONDS",
                                PUBLIC_SECONDS)
        self.answer, self.expires, self.lock = None, 0.0, Semaphore()

    def get(self, compute):
        with self.lock:
            if self.answer is None or time.monotonic() >= self.expires:
                self.answer = compute()
                self.expires = time.monotonic() + self.seconds
            return self.answer

    def get_dependency(self, worker_ctx):
        return self
